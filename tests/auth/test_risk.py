"""Risk-based login: each signal alone, combined, and what each level requires."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from auth.risk import (
    LoginAttemptContext,
    LoginHistory,
    LoginRequirement,
    RiskLevel,
    assess_login_risk,
    login_requirements,
    network_of,
)
from senim.config import RiskParams

WEIGHTS = RiskParams()  # new_device 25, new_network 20, failure 10 (cap 40), hour 15, velocity 60
NOON = datetime(2025, 3, 3, 12, 5, tzinfo=UTC)
HOME_IP = "203.0.113.77"
LAPTOP = "fp-laptop"

CTX = LoginAttemptContext(
    identity="aida", ip=HOME_IP, user_agent="Firefox", device_fingerprint=LAPTOP, at=NOON
)
HISTORY = LoginHistory(
    known_devices=frozenset({LAPTOP}),
    known_networks=frozenset({"203.0.113.0/24", "198.51.100.0/24"}),
    recent_failures=0,
    usual_hours=frozenset({9, 10, 11, 12, 13, 14}),
    last_success_ip=HOME_IP,
    last_success_at=NOON - timedelta(days=1),
)
EMPTY = LoginHistory(frozenset(), frozenset(), 0, frozenset(), None, None)


def assess(ctx=CTX, history=HISTORY, weights=WEIGHTS):
    return assess_login_risk(ctx, history, weights)


def test_given_familiar_login_when_assessed_then_low_without_reasons():
    result = assess()
    assert (result.level, result.score, result.reasons) == (RiskLevel.LOW, 0, [])


def test_given_new_device_alone_when_assessed_then_low_with_reason():
    result = assess(ctx=replace(CTX, device_fingerprint="fp-other"))
    assert (result.level, result.score, result.reasons) == (RiskLevel.LOW, 25, ["new device (+25)"])


def test_given_new_network_alone_when_assessed_then_low_naming_network():
    result = assess(ctx=replace(CTX, ip="192.0.2.10"))
    assert (result.level, result.reasons) == (RiskLevel.LOW, ["new network 192.0.2.0/24 (+20)"])


def test_given_new_device_and_network_when_assessed_then_medium():
    result = assess(ctx=replace(CTX, ip="192.0.2.10", device_fingerprint="fp-other"))
    assert (result.level, result.score) == (RiskLevel.MEDIUM, 45)


@pytest.mark.parametrize(
    ("failures", "score", "level"),
    [(1, 10, RiskLevel.LOW), (3, 30, RiskLevel.MEDIUM), (9, 40, RiskLevel.MEDIUM)],
)
def test_given_recent_failures_when_assessed_then_weighted_and_capped(failures, score, level):
    result = assess(history=replace(HISTORY, recent_failures=failures))
    assert (result.level, result.score) == (level, score)
    assert result.reasons == [f"{failures} failed logins in the last hour (+{score})"]


def test_given_hour_far_from_usual_when_assessed_then_unusual_hour_signal():
    result = assess(ctx=replace(CTX, at=NOON.replace(hour=3)))
    assert (result.level, result.reasons) == (RiskLevel.LOW, ["unusual hour 03:00 UTC (+15)"])


@pytest.mark.parametrize("hour", [8, 15])
def test_given_hour_within_one_of_usual_when_assessed_then_not_unusual(hour):
    assert assess(ctx=replace(CTX, at=NOON.replace(hour=hour))).score == 0


def test_given_usual_hours_across_midnight_when_adjacent_then_not_unusual():
    history = replace(HISTORY, usual_hours=frozenset({21, 22, 23, 1, 2}))
    assert assess(ctx=replace(CTX, at=NOON.replace(hour=0)), history=history).score == 0


def test_given_non_utc_timestamp_when_assessed_then_hour_taken_in_utc():
    local_noon = datetime(2025, 3, 3, 12, 5, tzinfo=timezone(timedelta(hours=5)))  # 07:05 UTC
    result = assess(ctx=replace(CTX, at=local_noon))
    assert result.reasons == ["unusual hour 07:00 UTC (+15)"]


def test_given_fewer_than_five_usual_hours_when_odd_hour_then_no_signal():
    history = replace(HISTORY, usual_hours=frozenset({9, 10, 11, 12}))
    assert assess(ctx=replace(CTX, at=NOON.replace(hour=3)), history=history).score == 0


def test_given_success_from_other_slash16_within_window_when_assessed_then_velocity_proxy():
    history = replace(
        HISTORY, last_success_ip="198.51.100.9", last_success_at=NOON - timedelta(minutes=10)
    )
    result = assess(history=history)
    assert (result.level, result.score) == (RiskLevel.MEDIUM, 60)
    assert "impossible-travel proxy" in result.reasons[0] and "(+60)" in result.reasons[0]


def test_given_velocity_jump_from_new_network_when_assessed_then_high():
    history = replace(
        HISTORY, last_success_ip="198.51.100.9", last_success_at=NOON - timedelta(minutes=10)
    )
    result = assess(ctx=replace(CTX, ip="192.0.2.10"), history=history)
    assert (result.level, result.score) == (RiskLevel.HIGH, 80)


@pytest.mark.parametrize(
    ("last_ip", "minutes_ago"),
    [
        ("203.0.50.1", 10),  # same /16, other /24
        ("198.51.100.9", 31),  # outside the 30 min window
        ("2001:db8::1", 10),  # IPv6 -> IPv4 on a dual-stack host
        ("garbage", 10),
        ("198.51.100.9", -5),  # clock skew: "last success" after this attempt
    ],
)
def test_given_no_real_jump_when_assessed_then_no_velocity_signal(last_ip, minutes_ago):
    history = replace(
        HISTORY, last_success_ip=last_ip, last_success_at=NOON - timedelta(minutes=minutes_ago)
    )
    assert assess(history=history).score == 0


def test_given_every_signal_when_assessed_then_high_with_all_reasons():
    history = replace(
        HISTORY,
        recent_failures=2,
        last_success_ip="198.51.100.9",
        last_success_at=NOON.replace(hour=2, minute=50),
    )
    ctx = replace(CTX, ip="192.0.2.10", device_fingerprint="fp-other", at=NOON.replace(hour=3))
    result = assess(ctx=ctx, history=history)
    assert result.level == RiskLevel.HIGH
    assert result.score == 25 + 20 + 20 + 15 + 60
    assert len(result.reasons) == 5


def test_given_brand_new_account_when_first_login_then_medium_not_high():
    result = assess(ctx=replace(CTX, device_fingerprint="fp-new"), history=EMPTY)
    assert (result.level, result.score) == (RiskLevel.MEDIUM, 45)


def test_given_brand_new_account_with_failures_when_first_login_then_capped_at_medium():
    result = assess(history=replace(EMPTY, recent_failures=5))
    assert (result.level, result.score) == (RiskLevel.MEDIUM, 85)
    assert result.reasons[-1] == "no login history: level capped at medium"


def test_given_custom_weights_when_assessed_then_thresholds_follow_params():
    weights = RiskParams(new_device=80, medium_at=10, high_at=50)
    result = assess(ctx=replace(CTX, device_fingerprint="x"), weights=weights)
    assert (result.level, result.reasons) == (RiskLevel.HIGH, ["new device (+80)"])


@pytest.mark.parametrize(
    ("ip", "network"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        (" 10.1.2.3 ", "10.1.2.0/24"),
        ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
        ("not-an-ip", "unknown"),
        ("", "unknown"),
        ("300.1.1.1", "unknown"),
    ],
)
def test_given_ip_when_network_of_then_prefix_or_unknown(ip, network):
    assert network_of(ip) == network


def test_given_invalid_ip_when_assessed_then_counts_as_new_network_even_if_unknown_stored():
    history = replace(HISTORY, known_networks=HISTORY.known_networks | {"unknown"})
    result = assess(ctx=replace(CTX, ip="not-an-ip"), history=history)
    assert result.reasons == ["new network unknown (+20)"]


def test_given_naive_timestamp_when_assessed_then_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        assess(ctx=replace(CTX, at=NOON.replace(tzinfo=None)))


@pytest.mark.parametrize(
    ("level", "has_totp", "trusted", "expected"),
    [
        (RiskLevel.LOW, True, False, LoginRequirement(allow=True, require_totp=True, alert=False)),
        (RiskLevel.LOW, True, True, LoginRequirement(allow=True, require_totp=True, alert=False)),
        (RiskLevel.LOW, False, False, LoginRequirement(True, False, False)),
        (RiskLevel.MEDIUM, True, True, LoginRequirement(True, True, False)),
        (RiskLevel.MEDIUM, False, False, LoginRequirement(True, False, True)),
        (RiskLevel.HIGH, True, True, LoginRequirement(True, True, True)),
        (RiskLevel.HIGH, False, False, LoginRequirement(False, False, True)),
    ],
)
def test_given_level_when_requirements_then_as_documented(level, has_totp, trusted, expected):
    assert login_requirements(level, has_totp=has_totp, trusted_device=trusted) == expected
