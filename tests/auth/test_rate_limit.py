"""Token-bucket limiter on a fake clock."""

from __future__ import annotations

import threading

import pytest

from auth.rate_limit import RateDecision, RateLimiters, TokenBucketLimiter
from senim.config import AuthParams, RateLimitParams


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


def test_given_fresh_key_when_hit_burst_times_then_allowed_then_denied_with_retry_after(clock):
    limiter = TokenBucketLimiter(burst=3, per_minute=6, clock=clock)  # 1 token per 10 s
    decisions = [limiter.hit("ip") for _ in range(3)]
    assert all(d.allowed for d in decisions)
    assert [d.remaining for d in decisions] == [2, 1, 0]
    denied = limiter.hit("ip")
    assert denied == RateDecision(allowed=False, retry_after=10.0, remaining=0.0)


def test_given_partial_refill_when_denied_then_retry_after_rounds_up_to_whole_seconds(clock):
    limiter = TokenBucketLimiter(burst=1, per_minute=6, clock=clock)
    limiter.hit("ip")
    clock.advance(2.5)
    denied = limiter.hit("ip")
    assert not denied.allowed and denied.retry_after == 8.0


def test_given_fast_refill_when_denied_then_retry_after_at_least_one_second(clock):
    limiter = TokenBucketLimiter(burst=1, per_minute=6000, clock=clock)
    limiter.hit("ip")
    denied = limiter.hit("ip")
    assert not denied.allowed and denied.retry_after == 1.0


def test_given_empty_bucket_when_time_passes_then_refilled_up_to_burst_only(clock):
    limiter = TokenBucketLimiter(burst=2, per_minute=60, clock=clock)
    limiter.hit("ip"), limiter.hit("ip")
    clock.advance(1.0)
    assert limiter.hit("ip").allowed
    assert not limiter.hit("ip").allowed
    clock.advance(3600)
    assert limiter.hit("ip").remaining == 1  # capped at burst 2, minus this hit


def test_given_denied_hits_when_hammering_then_retry_time_not_pushed_out(clock):
    limiter = TokenBucketLimiter(burst=1, per_minute=6, clock=clock)
    limiter.hit("ip")
    for _ in range(50):
        limiter.hit("ip")
    clock.advance(10)
    assert limiter.hit("ip").allowed


def test_given_two_keys_when_one_drained_then_other_unaffected(clock):
    limiter = TokenBucketLimiter(burst=1, per_minute=1, clock=clock)
    assert limiter.hit("a").allowed
    assert not limiter.hit("a").allowed
    assert limiter.hit("b").allowed


def test_given_drained_key_when_reset_then_full_burst_again(clock):
    limiter = TokenBucketLimiter(burst=2, per_minute=1, clock=clock)
    limiter.hit("a"), limiter.hit("a")
    limiter.reset("a")
    limiter.reset("never-seen")
    assert limiter.hit("a").remaining == 1


def test_given_cost_when_hit_then_charged_and_bad_cost_rejected(clock):
    limiter = TokenBucketLimiter(burst=5, per_minute=60, clock=clock)
    assert limiter.hit("a", cost=4).remaining == 1
    assert not limiter.hit("a", cost=2).allowed
    for bad in (0, -1, 6):
        with pytest.raises(ValueError):
            limiter.hit("a", cost=bad)


def test_given_max_keys_when_new_keys_arrive_then_memory_bounded(clock):
    limiter = TokenBucketLimiter(burst=5, per_minute=1, clock=clock, max_keys=50)
    for i in range(1000):
        limiter.hit(f"ip{i}")
        assert len(limiter) <= 50


def test_given_a_full_bucket_when_evicting_then_it_goes_first(clock):
    limiter = TokenBucketLimiter(burst=4, per_minute=1, clock=clock, max_keys=3)
    limiter.hit("refilled")
    clock.advance(60)  # "refilled" is full again: nothing worth keeping
    limiter.hit("drained", cost=4)
    limiter.hit("high")
    limiter.hit("newcomer")
    assert len(limiter) == 3
    assert limiter.hit("high").remaining == 2  # kept its state
    assert not limiter.hit("drained").allowed


def test_given_no_full_bucket_when_evicting_then_fullest_dropped_drained_kept(clock):
    limiter = TokenBucketLimiter(burst=4, per_minute=1, clock=clock, max_keys=3)
    limiter.hit("drained", cost=4)
    limiter.hit("low", cost=3)
    limiter.hit("high")
    limiter.hit("newcomer")  # evicts down to 2 keys: "high" holds the most tokens
    assert len(limiter) == 3
    assert not limiter.hit("drained").allowed  # the attacker's empty bucket survived
    assert limiter.hit("low").remaining == 0
    assert limiter.hit("high").remaining == 3  # forgotten: a fresh bucket


def test_given_threads_when_hitting_one_key_then_exactly_burst_allowed(clock):
    limiter = TokenBucketLimiter(burst=500, per_minute=1, clock=clock)
    allowed: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        results = [limiter.hit("shared").allowed for _ in range(200)]
        with lock:
            allowed.extend(results)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 500 and len(allowed) == 1600


def test_given_params_when_built_then_limits_follow_config(clock):
    limiter = TokenBucketLimiter.from_params(RateLimitParams(burst=2, per_minute=30), clock)
    assert limiter.burst == 2 and limiter.per_second == 0.5
    bundle = RateLimiters.from_params(AuthParams(), clock=clock)
    assert bundle.login_ip.burst == 10 and bundle.login_identity.burst == 5
    assert bundle.token_ip.burst == 30 and bundle.api_key.burst == 50
    assert bundle.login_ip is not bundle.login_identity
