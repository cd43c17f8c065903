"""Account lockout after consecutive failed logins: exponential, always time-limited.

A lock never lasts forever (that would let anyone lock a victim out for good); it
lasts at most ``max_seconds`` after the last failure. ASVS 5.0 asks that no more than
100 failed attempts per hour are possible on one account. The gaps between allowed
attempts never shrink, so the first hour is the worst one; with the defaults
(threshold 5, base 60 s, max 3600 s) an attacker retrying as soon as allowed gets
5 tries at once, then at +60, +180, +420, +900 and +1860 s: **10 attempts in the worst
hour**, then 1 per hour. ``worst_case_attempts`` computes it and the constructor refuses
policies that reach 100.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from senim.config import AuthParams

ASVS_MAX_ATTEMPTS_PER_HOUR = 100


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int
    base_seconds: int
    max_seconds: int

    def __post_init__(self) -> None:
        if self.threshold < 1 or self.base_seconds < 1 or self.max_seconds < self.base_seconds:
            raise ValueError(
                "auth.lockout_threshold and auth.lockout_base_seconds must be >= 1 and "
                "auth.lockout_max_seconds >= auth.lockout_base_seconds"
            )
        attempts = self.worst_case_attempts(3600)
        if attempts >= ASVS_MAX_ATTEMPTS_PER_HOUR:
            raise ValueError(
                f"auth.lockout_* allow {attempts} failed logins per hour on one account; "
                f"ASVS allows < {ASVS_MAX_ATTEMPTS_PER_HOUR}: raise lockout_max_seconds "
                "or lower lockout_threshold"
            )

    @classmethod
    def from_params(cls, params: AuthParams) -> LockoutPolicy:
        return cls(
            threshold=params.lockout_threshold,
            base_seconds=params.lockout_base_seconds,
            max_seconds=params.lockout_max_seconds,
        )

    def lockout_seconds(self, consecutive_failures: int) -> int:
        """0 below the threshold, then base doubling per further failure, capped at max."""
        if consecutive_failures < self.threshold:
            return 0
        # Bounding the exponent keeps 2**n small for absurd counters; the cap still applies.
        exponent = min(consecutive_failures - self.threshold, self.max_seconds.bit_length())
        return min(self.max_seconds, self.base_seconds * 2**exponent)

    def locked_until(
        self, consecutive_failures: int, last_failure_at: datetime | None
    ) -> datetime | None:
        seconds = self.lockout_seconds(consecutive_failures)
        if seconds == 0 or last_failure_at is None:
            return None
        return last_failure_at + timedelta(seconds=seconds)

    def is_locked(
        self, consecutive_failures: int, last_failure_at: datetime | None, now: datetime
    ) -> tuple[bool, int]:
        """``(locked, whole seconds left)``; seconds round up so Retry-After never undershoots."""
        until = self.locked_until(consecutive_failures, last_failure_at)
        if until is None or now >= until:
            return False, 0
        left = (until - now).total_seconds()
        return True, max(1, math.ceil(left))

    def worst_case_attempts(self, window_seconds: int) -> int:
        """Failed logins an attacker retrying as soon as allowed gets in the worst window."""
        attempts, failures, elapsed = 0, 0, 0
        while elapsed < window_seconds:
            attempts += 1
            failures += 1
            elapsed += self.lockout_seconds(failures)
        return attempts
