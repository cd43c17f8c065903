"""Token-bucket rate limiting, per key (an IP, an identity, an API key id).

``TokenBucketLimiter`` keeps its buckets in memory, per process: the fastest, and right
for one process. With several worker processes (``senim serve credit --workers N``) or
replicas each would keep its own buckets and allow N times the limit, so
``auth.shared_rate_limit.build_limiters`` then uses its database buckets (the platform database)
instead (``auth.rate_limit_store``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from auth.errors import RateLimited
from senim.config import AuthParams, RateLimitParams

Clock = Callable[[], float]


@dataclass(frozen=True)
class RateDecision:
    """``retry_after`` is whole seconds (>= 1) when denied, for the HTTP Retry-After header."""

    allowed: bool
    retry_after: float
    remaining: float


@dataclass
class _Bucket:
    tokens: float
    updated_at: float


class TokenBucketLimiter:
    """``burst`` hits at once, refilled continuously at ``per_minute``; thread-safe.

    Memory is bounded by ``max_keys``: when a new key would exceed it, buckets that
    have refilled completely are dropped first (a full bucket is the same as no
    bucket), then the fullest ones, down to 90 % of ``max_keys`` so the sweep is rare.
    A denied hit costs nothing, so hammering does not push the retry time further out.
    """

    def __init__(
        self,
        burst: int,
        per_minute: float,
        clock: Clock = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if burst < 1 or per_minute <= 0 or max_keys < 1:
            raise ValueError("burst and max_keys must be >= 1 and per_minute > 0")
        self.burst = burst
        self.per_second = per_minute / 60.0
        self.max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}

    @classmethod
    def from_params(
        cls, params: RateLimitParams, clock: Clock = time.monotonic, max_keys: int = 100_000
    ) -> TokenBucketLimiter:
        return cls(params.burst, params.per_minute, clock=clock, max_keys=max_keys)

    def __len__(self) -> int:
        return len(self._buckets)

    def hit(self, key: str, cost: float = 1.0) -> RateDecision:
        if not 0 < cost <= self.burst:
            raise ValueError(f"cost must be in (0, {self.burst}], got {cost}")
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.max_keys:
                    self._evict(now)
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            else:
                bucket.tokens = self._refilled(bucket, now)
                bucket.updated_at = now
            if bucket.tokens >= cost:
                bucket.tokens -= cost
                return RateDecision(allowed=True, retry_after=0.0, remaining=bucket.tokens)
            wait = (cost - bucket.tokens) / self.per_second
            # The epsilon keeps float noise (6.0000000001 s) from adding a whole second.
            retry_after = max(1, math.ceil(wait - 1e-9))
            return RateDecision(
                allowed=False, retry_after=float(retry_after), remaining=bucket.tokens
            )

    def enforce(self, key: str) -> None:
        """Count one hit for ``key``; raise RateLimited (Retry-After in seconds) when denied."""
        decision = self.hit(key)
        if not decision.allowed:
            raise RateLimited(retry_after=int(decision.retry_after))

    def reset(self, key: str) -> None:
        """Forget a key (e.g. after a successful login); its next hit gets a full burst."""
        with self._lock:
            self._buckets.pop(key, None)

    def _refilled(self, bucket: _Bucket, now: float) -> float:
        elapsed = max(0.0, now - bucket.updated_at)
        return min(float(self.burst), bucket.tokens + elapsed * self.per_second)

    def _evict(self, now: float) -> None:
        target = self.max_keys - max(1, self.max_keys // 10)
        levels = {key: self._refilled(b, now) for key, b in self._buckets.items()}
        for key, tokens in levels.items():
            if tokens >= self.burst:
                del self._buckets[key]
        excess = len(self._buckets) - target
        if excess <= 0:
            return
        # Fullest first; among equals the one idle longest.
        order = sorted(self._buckets, key=lambda k: (-levels[k], self._buckets[k].updated_at))
        for key in order[:excess]:
            del self._buckets[key]


@dataclass(frozen=True)
class RateLimiters:
    """The limiters the auth endpoints share, one per dimension an attacker can vary."""

    login_ip: TokenBucketLimiter
    login_identity: TokenBucketLimiter
    token_ip: TokenBucketLimiter
    api_key: TokenBucketLimiter
    shared: bool = False  # in the platform database (every worker counts against one limit)

    @classmethod
    def from_params(cls, params: AuthParams, clock: Clock = time.monotonic) -> RateLimiters:
        return cls(
            login_ip=TokenBucketLimiter.from_params(params.login_rate_per_ip, clock),
            login_identity=TokenBucketLimiter.from_params(params.login_rate_per_identity, clock),
            token_ip=TokenBucketLimiter.from_params(params.token_rate_per_ip, clock),
            api_key=TokenBucketLimiter.from_params(params.api_key_rate, clock),
        )
