"""The verified-key cache: trusted for ttl seconds, never past the key's expiry, forgettable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from auth.key_cache import VerifiedKeyCache

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Ticker:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_given_a_verified_key_when_asked_within_ttl_then_remembered_and_after_ttl_forgotten():
    clock = Ticker()
    cache = VerifiedKeyCache(1.0, clock=clock)
    cache.put("hash-a", "prefa", "principal-a", None)

    clock.now = 0.99
    assert cache.get("hash-a", NOW) == "principal-a"
    clock.now = 1.0
    assert cache.get("hash-a", NOW) is None
    assert cache.get("hash-a", NOW) is None  # and the stale entry is gone


def test_given_a_key_expiring_before_the_ttl_when_asked_after_expiry_then_not_trusted():
    cache = VerifiedKeyCache(60.0, clock=Ticker())
    cache.put("hash-a", "prefa", "principal-a", NOW + timedelta(seconds=5))

    assert cache.get("hash-a", NOW) == "principal-a"
    assert cache.get("hash-a", NOW + timedelta(seconds=5)) is None


def test_given_a_revoked_prefix_when_forgotten_then_the_next_check_goes_to_the_database():
    cache = VerifiedKeyCache(60.0, clock=Ticker())
    cache.put("hash-a", "prefa", "principal-a", None)
    cache.put("hash-b", "prefb", "principal-b", None)

    cache.forget_prefix("prefa")

    assert cache.get("hash-a", NOW) is None
    assert cache.get("hash-b", NOW) == "principal-b"


def test_given_ttl_zero_when_used_then_nothing_is_ever_remembered():
    cache = VerifiedKeyCache(0, clock=Ticker())
    cache.put("hash-a", "prefa", "principal-a", None)
    assert cache.get("hash-a", NOW) is None


def test_given_more_keys_than_the_bound_when_added_then_the_oldest_are_dropped():
    cache = VerifiedKeyCache(60.0, max_entries=2, clock=Ticker())
    for name in ("a", "b", "c"):
        cache.put(f"hash-{name}", f"pref{name}", name, None)
    assert cache.get("hash-a", NOW) is None
    assert cache.get("hash-b", NOW) == "b" and cache.get("hash-c", NOW) == "c"


def test_given_a_negative_ttl_when_built_then_refused():
    with pytest.raises(ValueError, match="ttl_s"):
        VerifiedKeyCache(-1)


def test_given_a_cached_key_when_revoked_through_the_runtime_then_refused_at_once(auth):
    """Revocation through the same process clears the cache; no TTL wait."""
    from auth import machine_keys
    from auth.errors import TokenInvalid
    from auth.principals import authenticate_api_key
    from auth.runtime import RequestMeta

    runtime = auth.runtime
    runtime.verified_keys = VerifiedKeyCache(60.0, clock=auth.clock.monotonic)
    admin = auth.bootstrap_admin()
    meta = RequestMeta(ip="local")
    created = machine_keys.create_key(
        runtime, "svc", "service", meta, actor_id=admin.user_id, actor_roles=("admin",)
    )
    first = authenticate_api_key(runtime, created.key, meta)
    assert authenticate_api_key(runtime, created.key, meta) == first  # from the cache

    machine_keys.revoke_key(
        runtime, created.view.prefix, meta, actor_id=admin.user_id, actor_roles=("admin",)
    )
    with pytest.raises(TokenInvalid):
        authenticate_api_key(runtime, created.key, meta)
