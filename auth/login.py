"""Password login with lockout, rate limits, risk-based step-up and TOTP, plus enrollment.

The same error (``invalid_credentials``) answers an unknown user and a wrong password,
unknown identities cost one password hash too, and lockout counts failures per
identity string, so no response or timing tells whether an account exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from auth.accounts import normalize_identity
from auth.errors import (
    AccountLocked,
    BadRequest,
    InvalidCredentials,
    RateLimited,
    RiskDenied,
    TotpInvalid,
    TotpRequired,
)
from auth.models import Credential, KnownDevice, LoginAttempt, RecoveryCode, TotpSecret, User
from auth.risk import (
    LoginAttemptContext,
    LoginHistory,
    RiskAssessment,
    RiskLevel,
    assess_login_risk,
    login_requirements,
    network_of,
)
from auth.runtime import AuthRuntime, RequestMeta
from auth.sessions import TokenPair, issue_tokens
from auth.totp import (
    hash_recovery_code,
    new_recovery_codes,
    new_totp_secret,
    provisioning_uri,
    qr_png,
    recovery_code_matches,
    verify_totp,
)


@dataclass(frozen=True)
class Enrollment:
    otpauth_uri: str
    qr_png: bytes


@dataclass(frozen=True)
class ConfirmedEnrollment:
    recovery_codes: list[str]
    tokens: TokenPair | None


def _limit(runtime: AuthRuntime, limiter, key: str) -> None:
    decision = limiter.hit(key)
    if not decision.allowed:
        raise RateLimited(retry_after=max(1, int(decision.retry_after)))


def _consecutive_failures(session: Session, identity: str) -> tuple[int, object]:
    """Failures for this identity since its last success, and when the last one was."""
    last_success = session.scalar(
        sa.select(sa.func.max(LoginAttempt.id)).where(
            LoginAttempt.identity_normalized == identity, LoginAttempt.success.is_(True)
        )
    )
    query = sa.select(sa.func.count(), sa.func.max(LoginAttempt.at)).where(
        LoginAttempt.identity_normalized == identity, LoginAttempt.success.is_(False)
    )
    if last_success is not None:
        query = query.where(LoginAttempt.id > last_success)
    count, last_at = session.execute(query).one()
    return int(count or 0), last_at


def _history(session: Session, user_id: str, identity: str, now) -> LoginHistory:
    successes = list(
        session.scalars(
            sa.select(LoginAttempt)
            .where(LoginAttempt.user_id == user_id, LoginAttempt.success.is_(True))
            .order_by(LoginAttempt.id.desc())
            .limit(50)
        )
    )
    failures = session.scalar(
        sa.select(sa.func.count()).where(
            LoginAttempt.identity_normalized == identity,
            LoginAttempt.success.is_(False),
            LoginAttempt.at >= now - timedelta(hours=1),
        )
    )
    devices = session.scalars(
        sa.select(KnownDevice.device_fingerprint).where(KnownDevice.user_id == user_id)
    )
    return LoginHistory(
        known_devices=frozenset(devices),
        known_networks=frozenset(network_of(a.ip or "") for a in successes),
        recent_failures=int(failures or 0),
        usual_hours=frozenset(a.at.hour for a in successes),
        last_success_ip=successes[0].ip if successes else None,
        last_success_at=successes[0].at if successes else None,
    )


def _attempt(
    session: Session,
    identity: str,
    user_id: str | None,
    meta: RequestMeta,
    success: bool,
    risk: RiskAssessment | None,
    now,
) -> None:
    session.add(
        LoginAttempt(
            identity_normalized=identity,
            user_id=user_id,
            ip=meta.ip,
            user_agent=meta.user_agent[:512] or None,
            device_fingerprint=meta.device_fingerprint or None,
            success=success,
            risk_level=str(risk.level) if risk else None,
            risk_score=int(risk.score) if risk else None,
            reasons=list(risk.reasons) if risk else [],
            at=now,
        )
    )


def login(
    runtime: AuthRuntime,
    identity: str,
    password: str,
    meta: RequestMeta,
    *,
    totp_code: str | None = None,
    recovery_code: str | None = None,
) -> TokenPair:
    normalized = normalize_identity(identity)
    _limit(runtime, runtime.limiters.login_ip, f"ip:{meta.ip}")
    _limit(runtime, runtime.limiters.login_identity, f"id:{normalized}")
    now = runtime.now()
    with runtime.sessions.begin() as session:
        failures, last_failure = _consecutive_failures(session, normalized)
        locked, seconds_left = runtime.lockout.is_locked(failures, last_failure, now)
        if locked:
            runtime.record(
                "anonymous",
                "login",
                f"identity:{normalized}",
                "denied",
                meta,
                reason="locked",
                seconds_left=seconds_left,
            )
            raise AccountLocked(
                "too many failed sign-ins; try again later", retry_after=seconds_left
            )
        user = session.scalar(sa.select(User).where(User.username_normalized == normalized))
        credential = session.get(Credential, user.id) if user is not None else None
        if user is None or credential is None or not user.is_active:
            runtime.passwords.verify_unknown_user(password)
            ok = False
        else:
            ok = runtime.passwords.verify(credential.password_hash, password)
        if not ok:
            _attempt(session, normalized, user.id if user else None, meta, False, None, now)
            runtime.record(
                user.id if user else "anonymous",
                "login",
                f"identity:{normalized}",
                "failure",
                meta,
                reason="invalid_credentials",
            )
            raise InvalidCredentials()
        risk = assess_login_risk(
            LoginAttemptContext(
                identity=normalized,
                ip=meta.ip,
                user_agent=meta.user_agent,
                device_fingerprint=meta.device_fingerprint,
                at=now,
            ),
            _history(session, user.id, normalized, now),
            runtime.params.risk,
        )
        secret = session.get(TotpSecret, user.id)
        has_totp = secret is not None and secret.confirmed_at is not None
        requirement = login_requirements(risk.level, has_totp=has_totp, trusted_device=False)
        failure: Exception | None = None
        mfa = False
        if not requirement.allow:
            failure = RiskDenied("sign-in denied; contact an administrator")
        elif requirement.require_totp or has_totp:
            try:
                mfa = _second_factor(runtime, session, user, secret, totp_code, recovery_code, now)
            except TotpInvalid as exc:
                failure = exc
        if failure is not None:
            # Recorded and committed before raising: failed second factors count toward
            # lockout exactly like wrong passwords.
            _attempt(session, normalized, user.id, meta, False, risk, now)
        else:
            if requirement.alert:
                runtime.record(
                    user.id,
                    "login:risk",
                    f"identity:{normalized}",
                    "alert",
                    meta,
                    risk_level=str(risk.level),
                    reasons=risk.reasons,
                )
            _attempt(session, normalized, user.id, meta, True, risk, now)
            _remember_device(session, user.id, meta.device_fingerprint, now)
            user.last_login_at, user.last_login_ip = now, meta.ip
            if runtime.passwords.needs_rehash(credential.password_hash):
                credential.password_hash = runtime.passwords.hash(password)
            pair = issue_tokens(runtime, session, user, meta, mfa=mfa)
    if isinstance(failure, RiskDenied):
        runtime.record(
            user.id,
            "login",
            f"identity:{normalized}",
            "alert",
            meta,
            urgent=True,
            risk_level=str(risk.level),
            reasons=risk.reasons,
        )
        raise failure
    if failure is not None:
        runtime.record(
            user.id,
            "login",
            f"identity:{normalized}",
            "failure",
            meta,
            reason=getattr(failure, "code", "second_factor"),
        )
        raise failure
    runtime.record(
        user.id,
        "login",
        f"identity:{normalized}",
        "success",
        meta,
        risk_level=str(risk.level),
        risk_score=risk.score,
        reasons=risk.reasons,
    )
    return pair


def _second_factor(runtime, session, user, secret, totp_code, recovery_code, now) -> bool:
    if recovery_code:
        for stored in session.scalars(
            sa.select(RecoveryCode).where(
                RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
            )
        ):
            if recovery_code_matches(recovery_code, stored.code_hash):
                stored.used_at = now
                return True
        raise TotpInvalid("invalid recovery code")
    if not totp_code:
        raise TotpRequired("enter the code from your authenticator app (field totp_code)")
    plain = runtime.secret_box.decrypt(secret.secret_encrypted, context=user.id)
    step = verify_totp(plain, totp_code, last_used_step=secret.last_used_step, now=now.timestamp())
    secret.last_used_step = step
    return True


def _remember_device(session: Session, user_id: str, fingerprint: str, now) -> None:
    if not fingerprint:
        return
    device = session.get(KnownDevice, (user_id, fingerprint))
    if device is None:
        session.add(
            KnownDevice(
                user_id=user_id, device_fingerprint=fingerprint, first_seen_at=now, last_seen_at=now
            )
        )
    else:
        device.last_seen_at = now


def enroll_totp(runtime: AuthRuntime, user_id: str, meta: RequestMeta) -> Enrollment:
    """Start (or restart) enrollment; it counts only once a valid code confirms it."""
    with runtime.sessions.begin() as session:
        user = session.get(User, user_id)
        secret = session.get(TotpSecret, user_id)
        if secret is not None and secret.confirmed_at is not None:
            raise BadRequest("two-factor authentication is already enrolled")
        plain = new_totp_secret()
        encrypted = runtime.secret_box.encrypt(plain, context=user_id)
        if secret is None:
            session.add(
                TotpSecret(user_id=user_id, secret_encrypted=encrypted, created_at=runtime.now())
            )
        else:
            secret.secret_encrypted, secret.last_used_step = encrypted, None
        uri = provisioning_uri(plain, user.username)
    runtime.record(user_id, "totp:enroll", f"user:{user_id}", "success", meta)
    return Enrollment(otpauth_uri=uri, qr_png=qr_png(uri))


def confirm_totp(
    runtime: AuthRuntime, user_id: str, code: str, meta: RequestMeta, *, issue: bool = True
) -> ConfirmedEnrollment:
    now = runtime.now()
    with runtime.sessions.begin() as session:
        secret = session.get(TotpSecret, user_id)
        if secret is None or secret.confirmed_at is not None:
            raise BadRequest("no pending two-factor enrollment: call /auth/totp/enroll first")
        plain = runtime.secret_box.decrypt(secret.secret_encrypted, context=user_id)
        try:
            secret.last_used_step = verify_totp(
                plain, code, last_used_step=secret.last_used_step, now=now.timestamp()
            )
        except TotpInvalid:
            runtime.record(user_id, "totp:confirm", f"user:{user_id}", "failure", meta)
            raise
        secret.confirmed_at = now
        session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        codes = new_recovery_codes(10)
        session.add_all(
            RecoveryCode(user_id=user_id, code_hash=hash_recovery_code(c)) for c in codes
        )
        tokens = None
        if issue:
            user = session.get(User, user_id)
            tokens = issue_tokens(runtime, session, user, meta, mfa=True)
    runtime.record(user_id, "totp:confirm", f"user:{user_id}", "success", meta)
    return ConfirmedEnrollment(recovery_codes=codes, tokens=tokens)


__all__ = ["ConfirmedEnrollment", "Enrollment", "RiskLevel", "confirm_totp", "enroll_totp", "login"]
