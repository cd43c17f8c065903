"""API key format, parsing and constant-time matching."""

from __future__ import annotations

import re

import pytest

import auth.api_keys as api_keys
from auth.api_keys import api_key_hash, api_key_matches, new_api_key, parse_api_key
from auth.errors import TokenInvalid


def test_given_new_key_when_made_then_format_prefix_and_hash_fit():
    made = new_api_key()
    assert re.fullmatch(r"snm_[a-z0-9]{8}_[A-Za-z0-9]{43}", made.key)
    assert made.key.split("_")[1] == made.prefix
    assert made.key_hash == api_key_hash(made.key) and len(made.key_hash) == 64
    assert made.key not in repr(made)


def test_given_new_key_when_parsed_then_prefix_and_secret_returned():
    made = new_api_key()
    prefix, secret = parse_api_key(made.key)
    assert prefix == made.prefix and made.key.endswith(secret) and len(secret) == 43


@pytest.mark.parametrize(
    "key",
    [
        "",
        "snm_",
        "snm_abcdefgh_",
        "snm_abcdefgh_" + "A" * 42,
        "snm_abcdefgh_" + "A" * 44,
        "snm_ABCDEFGH_" + "A" * 43,
        "snm_abcdefg_" + "A" * 43,
        "xyz_abcdefgh_" + "A" * 43,
        "snm-abcdefgh-" + "A" * 43,
        "snm_abcdefgh_" + "A" * 42 + "-",
        " snm_abcdefgh_" + "A" * 43,
        "Bearer snm_abcdefgh_" + "A" * 43,
    ],
)
def test_given_malformed_key_when_parsed_then_token_invalid(key):
    with pytest.raises(TokenInvalid):
        parse_api_key(key)


def test_given_stored_hash_when_matched_then_only_the_same_key_matches():
    first, second = new_api_key(), new_api_key()
    assert api_key_matches(first.key, first.key_hash)
    assert not api_key_matches(second.key, first.key_hash)
    assert not api_key_matches(first.key + "x", first.key_hash)


def test_given_match_when_checked_then_constant_time_compare_is_used(monkeypatch):
    calls = []
    real = api_keys.hmac.compare_digest

    def spy(left, right):
        calls.append((left, right))
        return real(left, right)

    monkeypatch.setattr(api_keys.hmac, "compare_digest", spy)
    made = new_api_key()
    assert api_key_matches(made.key, made.key_hash)
    assert len(calls) == 1


def test_given_many_keys_when_made_then_prefixes_and_secrets_unique():
    made = [new_api_key() for _ in range(500)]
    assert len({item.prefix for item in made}) == 500
    assert len({item.key for item in made}) == 500
