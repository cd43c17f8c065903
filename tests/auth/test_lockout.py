"""Exponential, time-limited lockout and the ASVS attempts-per-hour ceiling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from auth.lockout import LockoutPolicy
from senim.config import AuthParams

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture()
def policy() -> LockoutPolicy:
    return LockoutPolicy(threshold=5, base_seconds=60, max_seconds=3600)


def test_given_default_params_when_built_then_policy_follows_config():
    assert LockoutPolicy.from_params(AuthParams()) == LockoutPolicy(5, 60, 3600)


@pytest.mark.parametrize("failures", [0, 1, 4])
def test_given_failures_below_threshold_when_checked_then_not_locked(policy, failures):
    assert policy.lockout_seconds(failures) == 0
    assert policy.locked_until(failures, T0) is None
    assert policy.is_locked(failures, T0, T0) == (False, 0)


@pytest.mark.parametrize(
    ("failures", "seconds"),
    [(5, 60), (6, 120), (7, 240), (8, 480), (10, 1920), (11, 3600), (50, 3600), (10**9, 3600)],
)
def test_given_failures_at_or_above_threshold_when_checked_then_doubles_up_to_cap(
    policy, failures, seconds
):
    assert policy.lockout_seconds(failures) == seconds


def test_given_no_last_failure_when_checked_then_not_locked(policy):
    assert policy.is_locked(9, None, T0) == (False, 0)


def test_given_lock_when_time_frozen_inside_then_locked_with_seconds_left(policy):
    assert policy.locked_until(6, T0) == T0 + timedelta(seconds=120)
    assert policy.is_locked(6, T0, T0 + timedelta(seconds=30)) == (True, 90)
    assert policy.is_locked(6, T0, T0 + timedelta(seconds=119, microseconds=1)) == (True, 1)


def test_given_lock_when_period_passes_then_unlocked(policy):
    assert policy.is_locked(6, T0, T0 + timedelta(seconds=120)) == (False, 0)
    assert policy.is_locked(10**6, T0, T0 + timedelta(hours=1)) == (False, 0)


def _attempts_in_first_hour(policy: LockoutPolicy) -> int:
    """An attacker who retries the moment the lock allows, every try failing."""
    now, failures, last_failure, attempts = T0, 0, None, 0
    end = T0 + timedelta(hours=1)
    while now < end:
        locked, left = policy.is_locked(failures, last_failure, now)
        if locked:
            now += timedelta(seconds=left)
            continue
        attempts += 1
        failures += 1
        last_failure = now
    return attempts


def test_given_default_policy_when_attacker_retries_for_an_hour_then_under_100(policy):
    attempts = _attempts_in_first_hour(policy)
    assert attempts == 10 == policy.worst_case_attempts(3600)
    assert attempts < 100


@pytest.mark.parametrize("threshold", [1, 20, 50])
def test_given_strictest_config_extremes_when_simulated_then_still_under_100(threshold):
    policy = LockoutPolicy(threshold=threshold, base_seconds=1, max_seconds=3600)
    assert _attempts_in_first_hour(policy) == policy.worst_case_attempts(3600) < 100


def test_given_policy_allowing_100_per_hour_when_built_then_rejected_naming_fields():
    with pytest.raises(ValueError, match="lockout_max_seconds"):
        LockoutPolicy(threshold=5, base_seconds=1, max_seconds=10)


def test_given_inconsistent_values_when_built_then_rejected():
    with pytest.raises(ValueError):
        LockoutPolicy(threshold=0, base_seconds=60, max_seconds=3600)
    with pytest.raises(ValueError):
        LockoutPolicy(threshold=5, base_seconds=60, max_seconds=30)
