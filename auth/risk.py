"""Risk-based login: score a login attempt against the account's history.

Each signal adds its weight from ``RiskParams``; the sum picks LOW / MEDIUM / HIGH and
``login_requirements`` turns the level into what the login must still pass. Decisions:

* An account with no history at all (never logged in) is scored honestly (new device,
  new network, failures) but its level is capped at MEDIUM: there is nothing to be
  anomalous against, and guessing is the lockout's and rate limiter's job, not this one.
* "Impossible travel" needs GeoIP, which we do not ship. Its proxy: a login from a
  different /16 (IPv4) or /32 (IPv6) than the last success within
  ``velocity_window_minutes``. It also fires for a phone hopping from Wi-Fi to mobile
  data, so its weight alone only reaches MEDIUM with the defaults.
* Unusual hour only counts with at least 5 usual hours of history; fewer says little.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from senim.config import RiskParams

UNKNOWN_NETWORK = "unknown"
MIN_USUAL_HOURS = 5


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True)
class LoginAttemptContext:
    identity: str
    ip: str
    user_agent: str
    device_fingerprint: str
    at: datetime  # timezone-aware


@dataclass(frozen=True)
class LoginHistory:
    """What past logins tell us; ``recent_failures`` counts the last hour."""

    known_devices: frozenset[str]
    known_networks: frozenset[str]  # as produced by ``network_of``
    recent_failures: int
    usual_hours: frozenset[int]  # UTC hours of past successful logins
    last_success_ip: str | None
    last_success_at: datetime | None

    @property
    def is_empty(self) -> bool:
        return not (
            self.known_devices
            or self.known_networks
            or self.usual_hours
            or self.last_success_ip
            or self.last_success_at
        )


@dataclass(frozen=True)
class RiskAssessment:
    level: RiskLevel
    score: float
    reasons: list[str]  # one line per signal with its weight, for the audit log


@dataclass(frozen=True)
class LoginRequirement:
    allow: bool
    require_totp: bool
    alert: bool


def _parse_ip(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(ip.strip())
    except ValueError:
        return None


def _prefix(ip: str, v4: int, v6: int) -> str | None:
    address = _parse_ip(ip)
    if address is None:
        return None
    bits = v4 if address.version == 4 else v6
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))


def network_of(ip: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) holding ``ip``: a user's "network"; invalid -> unknown."""
    return _prefix(ip, 24, 48) or UNKNOWN_NETWORK


def _hour_distance(a: int, b: int) -> int:
    diff = abs(a - b) % 24
    return min(diff, 24 - diff)


def _velocity_jump(ctx: LoginAttemptContext, history: LoginHistory, window: timedelta) -> bool:
    if history.last_success_ip is None or history.last_success_at is None:
        return False
    if not timedelta(0) <= ctx.at - history.last_success_at <= window:
        return False
    now_block = _prefix(ctx.ip, 16, 32)
    last_block = _prefix(history.last_success_ip, 16, 32)
    if now_block is None or last_block is None:
        return False
    # IPv4 <-> IPv6 switches are ordinary on dual-stack hosts; only compare like with like.
    if ipaddress.ip_network(now_block).version != ipaddress.ip_network(last_block).version:
        return False
    return now_block != last_block


def assess_login_risk(
    ctx: LoginAttemptContext, history: LoginHistory, weights: RiskParams
) -> RiskAssessment:
    if ctx.at.tzinfo is None:
        raise ValueError("LoginAttemptContext.at must be timezone-aware")
    signals: list[tuple[str, float]] = []

    if ctx.device_fingerprint not in history.known_devices:
        signals.append(("new device", weights.new_device))
    network = network_of(ctx.ip)
    if network == UNKNOWN_NETWORK or network not in history.known_networks:
        signals.append((f"new network {network}", weights.new_network))
    if history.recent_failures > 0:
        penalty = min(weights.recent_failures_cap, history.recent_failures * weights.recent_failure)
        signals.append((f"{history.recent_failures} failed logins in the last hour", penalty))
    hour = ctx.at.astimezone(UTC).hour
    if len(history.usual_hours) >= MIN_USUAL_HOURS and all(
        _hour_distance(hour, usual) > 1 for usual in history.usual_hours
    ):
        signals.append((f"unusual hour {hour:02d}:00 UTC", weights.unusual_hour))
    window = timedelta(minutes=weights.velocity_window_minutes)
    if _velocity_jump(ctx, history, window):
        signals.append(
            (
                "different /16 network than the last success within "
                f"{weights.velocity_window_minutes} min (impossible-travel proxy)",
                weights.impossible_velocity,
            )
        )

    score = sum(weight for _, weight in signals)
    reasons = [f"{name} (+{weight:g})" for name, weight in signals]
    if score >= weights.high_at:
        level = RiskLevel.HIGH
    elif score >= weights.medium_at:
        level = RiskLevel.MEDIUM
    else:
        level = RiskLevel.LOW
    if history.is_empty and level == RiskLevel.HIGH:
        level = RiskLevel.MEDIUM
        reasons.append("no login history: level capped at medium")
    return RiskAssessment(level=level, score=score, reasons=reasons)


def login_requirements(level: RiskLevel, has_totp: bool, trusted_device: bool) -> LoginRequirement:
    """What a login at ``level`` must still pass once the password is right.

    LOW asks for TOTP whenever the account has it (ASVS L2: every login, so a trusted
    device relaxes nothing today). MEDIUM also asks for TOTP; an account without TOTP is
    let in but flagged (``alert``) so the user is told of the sign-in, since denying
    would lock out exactly the users who have not enrolled yet. HIGH steps up: a correct
    TOTP (or recovery code) lets the owner in and raises an alert, because the signals
    that make a login HIGH (failures, a new network) are ones an attacker can cause, and
    they must never outweigh the second factor; an account with no second factor to step
    up to is denied and alerted.
    """
    del trusted_device  # accepted so callers need not change when a remember-device rule lands
    if level == RiskLevel.HIGH:
        return LoginRequirement(allow=has_totp, require_totp=has_totp, alert=True)
    if level == RiskLevel.MEDIUM:
        return LoginRequirement(allow=True, require_totp=has_totp, alert=not has_totp)
    return LoginRequirement(allow=True, require_totp=has_totp, alert=False)
