"""Access-token issuing and the attacks its verifier must refuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from auth.errors import TokenExpired, TokenInvalid
from auth.tokens import (
    TokenSettings,
    decode_access_token,
    hash_opaque_token,
    issue_access_token,
    new_opaque_token,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
HMAC_KEY = b"k" * 48
TTL = timedelta(minutes=15)


def b64url(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def hs() -> TokenSettings:
    return TokenSettings("senim", "senim-api", "HS256", HMAC_KEY, HMAC_KEY, TTL)


@pytest.fixture(scope="module")
def ed() -> TokenSettings:
    private_key = ed25519.Ed25519PrivateKey.generate()
    return TokenSettings("senim", "senim-api", "EdDSA", private_key, private_key.public_key(), TTL)


def claims_for(settings: TokenSettings, **overrides) -> dict:
    issued = int(NOW.timestamp())
    claims = {
        "iss": settings.issuer,
        "aud": settings.audience,
        "sub": "user-1",
        "roles": ["viewer"],
        "iat": issued,
        "nbf": issued,
        "exp": issued + 900,
        "jti": "abc123",
        "typ": "access",
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


@pytest.mark.parametrize("settings_name", ["hs", "ed"])
def test_given_issued_token_when_decoded_then_claims_round_trip(request, settings_name):
    settings = request.getfixturevalue(settings_name)
    issued = issue_access_token(
        settings, subject="user-1", roles=["admin", "viewer"], now=NOW, extra={"sid": "s-9"}
    )
    claims = decode_access_token(settings, issued.token, now=NOW + timedelta(minutes=1))
    assert claims.subject == "user-1" and claims.roles == ("admin", "viewer")
    assert claims.jti == issued.jti and len(issued.jti) == 32
    assert claims.expires_at == issued.expires_at == NOW + TTL
    assert claims.issued_at == NOW and claims.extra == {"sid": "s-9"}
    assert jwt.get_unverified_header(issued.token)["typ"] == "JWT"
    assert issued.token not in repr(issued)


def test_given_token_past_expiry_when_decoded_then_expired(hs):
    token = issue_access_token(hs, subject="u", roles=[], now=NOW).token
    decode_access_token(hs, token, now=NOW + TTL - timedelta(seconds=1))
    with pytest.raises(TokenExpired):
        decode_access_token(hs, token, now=NOW + TTL + hs.leeway)


def test_given_token_from_the_future_when_decoded_then_invalid(hs):
    token = issue_access_token(hs, subject="u", roles=[], now=NOW + timedelta(minutes=5)).token
    with pytest.raises(TokenInvalid):
        decode_access_token(hs, token, now=NOW)


def test_given_tampered_payload_when_decoded_then_invalid(hs):
    header, _, signature = issue_access_token(hs, subject="u", roles=[], now=NOW).token.split(".")
    forged = f"{header}.{b64url(claims_for(hs, roles=['admin']))}.{signature}"
    with pytest.raises(TokenInvalid):
        decode_access_token(hs, forged, now=NOW)


def test_given_tampered_signature_when_decoded_then_invalid(hs):
    token = issue_access_token(hs, subject="u", roles=[], now=NOW).token
    head, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    with pytest.raises(TokenInvalid):
        decode_access_token(hs, f"{head}.{payload}.{flipped}", now=NOW)


@pytest.mark.parametrize(
    "garbage", ["", "abc", "a.b.c", "....", "e30.e30.", "\u00e9.\u00e9.\u00e9"]
)
def test_given_malformed_token_when_decoded_then_invalid(hs, garbage):
    with pytest.raises(TokenInvalid):
        decode_access_token(hs, garbage, now=NOW)


@pytest.mark.parametrize("settings_name", ["hs", "ed"])
@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_given_unsigned_alg_none_token_when_decoded_then_invalid(request, settings_name, alg):
    settings = request.getfixturevalue(settings_name)
    token = f"{b64url({'alg': alg, 'typ': 'JWT'})}.{b64url(claims_for(settings))}."
    with pytest.raises(TokenInvalid):
        decode_access_token(settings, token, now=NOW)


def test_given_hs256_token_when_eddsa_verifier_then_invalid(ed):
    token = jwt.encode(claims_for(ed), HMAC_KEY, algorithm="HS256")
    with pytest.raises(TokenInvalid):
        decode_access_token(ed, token, now=NOW)


def test_given_hs256_signed_with_public_key_pem_when_eddsa_verifier_then_invalid(ed):
    """The classic key confusion: the attacker uses the public key as an HMAC secret."""
    public_pem = ed.verify_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64url({"alg": "HS256", "typ": "JWT"})
    body = b64url(claims_for(ed, roles=["admin"]))
    signing_input = f"{header}.{body}".encode()
    signature = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    token = f"{header}.{body}." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    with pytest.raises(TokenInvalid):
        decode_access_token(ed, token, now=NOW)


def test_given_eddsa_token_when_hs256_verifier_then_invalid(hs, ed):
    token = issue_access_token(ed, subject="u", roles=[], now=NOW).token
    with pytest.raises(TokenInvalid):
        decode_access_token(hs, token, now=NOW)


@pytest.mark.parametrize(
    "override",
    [
        {"aud": "someone-else"},
        {"aud": ["senim-api", "someone-else"]},
        {"iss": "evil"},
        {"jti": None},
        {"sub": None},
        {"exp": None},
        {"iat": None},
        {"typ": None},
        {"typ": "refresh"},
        {"roles": "admin"},
        {"exp": "9999999999"},
        {"sub": 42},
    ],
    ids=lambda override: ",".join(f"{key}={value}" for key, value in override.items()),
)
def test_given_correctly_signed_but_wrong_claims_when_decoded_then_invalid(hs, override):
    token = jwt.encode(claims_for(hs, **override), HMAC_KEY, algorithm="HS256")
    with pytest.raises(TokenInvalid):
        decode_access_token(hs, token, now=NOW)


def test_given_token_signed_with_other_key_when_decoded_then_invalid(hs):
    token = jwt.encode(claims_for(hs), b"x" * 48, algorithm="HS256")
    with pytest.raises(TokenInvalid):
        decode_access_token(hs, token, now=NOW)


def test_given_extra_claim_overriding_registered_when_issued_then_refused(hs):
    with pytest.raises(ValueError, match="roles"):
        issue_access_token(hs, subject="u", roles=[], now=NOW, extra={"roles": ["admin"]})


def test_given_short_hmac_secret_when_settings_built_then_refused():
    with pytest.raises(ValueError, match="32 bytes"):
        TokenSettings("senim", "senim-api", "HS256", b"short", b"short", TTL)


def test_given_opaque_tokens_when_made_then_long_unique_and_hashed():
    tokens = {new_opaque_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(token) >= 43 for token in tokens)
    token = next(iter(tokens))
    assert hash_opaque_token(token) == hash_opaque_token(token)
    assert len(hash_opaque_token(token)) == 64 and token not in hash_opaque_token(token)
