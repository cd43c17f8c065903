"""Password login with lockout, rate limits, risk-based step-up and TOTP, plus enrollment.

The same error (``invalid_credentials``) answers an unknown user and a wrong password,
unknown identities cost one password hash too, and lockout counts failures per
identity string, so no response or timing tells whether an account exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from auth.accounts import normalize_identity
from auth.errors import (
    AccountLocked,
    AuthError,
    BadRequest,
    InvalidCredentials,
    NotFound,
    PermissionDenied,
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
from auth.sessions import TokenPair, issue_tokens, revoke_user_sessions
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
        usual_hours=frozenset(a.at.astimezone(UTC).hour for a in successes),
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


@dataclass
class _Outcome:
    """What one login transaction decided; audited and raised only after it committed."""

    actor: str
    failure: AuthError | None = None
    risk: RiskAssessment | None = None
    pair: TokenPair | None = None


def login(
    runtime: AuthRuntime,
    identity: str,
    password: str,
    meta: RequestMeta,
    *,
    totp_code: str | None = None,
    recovery_code: str | None = None,
) -> TokenPair:
    """Tokens for a correct password (and second factor where needed), else an AuthError.

    Every failure that counts toward lockout is committed before it is raised.
    """
    normalized = normalize_identity(identity)
    runtime.enforce_limit(runtime.limiters.login_ip, f"ip:{meta.ip}", meta)
    runtime.enforce_limit(runtime.limiters.login_identity, f"id:{normalized}", meta)
    now = runtime.now()
    with runtime.sessions.begin() as session:
        _refuse_if_locked(runtime, session, normalized, meta, now)
        outcome = _decide(
            runtime, session, normalized, password, meta, now, totp_code, recovery_code
        )
    resource = f"identity:{normalized}"
    risk = outcome.risk
    risk_details = (
        {"risk_level": str(risk.level), "risk_score": risk.score, "reasons": risk.reasons}
        if risk
        else {}
    )
    if isinstance(outcome.failure, RiskDenied):
        runtime.record(outcome.actor, "login", resource, "alert", meta, urgent=True, **risk_details)
    elif outcome.failure is not None:
        runtime.record(
            outcome.actor, "login", resource, "failure", meta, reason=outcome.failure.code
        )
    else:
        runtime.record(outcome.actor, "login", resource, "success", meta, **risk_details)
    if outcome.failure is not None:
        raise outcome.failure
    return outcome.pair


def _refuse_if_locked(
    runtime: AuthRuntime, session: Session, normalized: str, meta: RequestMeta, now
) -> None:
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
        raise AccountLocked("too many failed sign-ins; try again later", retry_after=seconds_left)


def _decide(
    runtime: AuthRuntime,
    session: Session,
    normalized: str,
    password: str,
    meta: RequestMeta,
    now,
    totp_code: str | None,
    recovery_code: str | None,
) -> _Outcome:
    """Check password, risk and second factor; record the attempt in ``session``.

    Raises only where nothing must persist (TotpRequired: the caller retries with a code).
    """
    user = session.scalar(sa.select(User).where(User.username_normalized == normalized))
    credential = session.get(Credential, user.id) if user is not None else None
    if user is None or credential is None or not user.is_active:
        runtime.passwords.verify_unknown_user(password)
        ok = False
    else:
        ok = runtime.passwords.verify(credential.password_hash, password)
    if not ok:
        user_id = user.id if user is not None else None
        _attempt(session, normalized, user_id, meta, False, None, now)
        return _Outcome(actor=user_id or "anonymous", failure=InvalidCredentials())
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
    if not requirement.allow:
        _attempt(session, normalized, user.id, meta, False, risk, now)
        return _Outcome(actor=user.id, risk=risk, failure=RiskDenied())
    mfa = False
    if requirement.require_totp or has_totp:
        try:
            mfa = _second_factor(runtime, session, user, secret, totp_code, recovery_code, now)
        except TotpInvalid as exc:
            # Counted toward lockout exactly like a wrong password.
            _attempt(session, normalized, user.id, meta, False, risk, now)
            return _Outcome(actor=user.id, risk=risk, failure=exc)
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
    return _Outcome(actor=user.id, risk=risk, pair=pair)


def _second_factor(runtime, session, user, secret, totp_code, recovery_code, now) -> bool:
    """True once a recovery code or TOTP code is consumed; each works once, even when two
    requests race (conditional UPDATEs: only one of them changes the row)."""
    if recovery_code:
        unused = list(
            session.scalars(
                sa.select(RecoveryCode).where(
                    RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
                )
            )
        )
        for stored in unused:
            if recovery_code_matches(recovery_code, stored.code_hash):
                if _consume(
                    session,
                    sa.update(RecoveryCode)
                    .where(RecoveryCode.id == stored.id, RecoveryCode.used_at.is_(None))
                    .values(used_at=now),
                ):
                    return True
                break
        raise TotpInvalid("invalid recovery code")
    if not totp_code:
        raise TotpRequired("enter the code from your authenticator app (field totp_code)")
    plain = runtime.secret_box.decrypt(secret.secret_encrypted, context=user.id)
    step = verify_totp(plain, totp_code, last_used_step=secret.last_used_step, now=now.timestamp())
    if not _consume(session, _advance_step(user.id, step)):
        raise TotpInvalid()
    return True


def _advance_step(user_id: str, step: int) -> sa.Update:
    """Record ``step`` as used unless it (or a later one) already was."""
    return (
        sa.update(TotpSecret)
        .where(
            TotpSecret.user_id == user_id,
            sa.or_(TotpSecret.last_used_step.is_(None), TotpSecret.last_used_step < step),
        )
        .values(last_used_step=step)
    )


def _consume(session: Session, statement: sa.Update) -> bool:
    """Run a conditional UPDATE; True when it changed a row (this request won)."""
    result = session.execute(statement, execution_options={"synchronize_session": False})
    return result.rowcount == 1


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
    """Start (or restart) enrollment; it counts only once a valid code confirms it.

    A confirmed secret is never replaced here, even by a request racing the confirmation.
    """
    already = BadRequest("two-factor authentication is already enrolled")
    with runtime.sessions.begin() as session:
        user = session.get(User, user_id)
        secret = session.get(TotpSecret, user_id)
        if secret is not None and secret.confirmed_at is not None:
            raise already
        plain = new_totp_secret()
        encrypted = runtime.secret_box.encrypt(plain, context=user_id)
        if secret is None:
            session.add(
                TotpSecret(user_id=user_id, secret_encrypted=encrypted, created_at=runtime.now())
            )
        elif not _consume(
            session,
            sa.update(TotpSecret)
            .where(TotpSecret.user_id == user_id, TotpSecret.confirmed_at.is_(None))
            .values(secret_encrypted=encrypted, last_used_step=None),
        ):
            raise already
        uri = provisioning_uri(plain, user.username)
    runtime.record(user_id, "totp:enroll", f"user:{user_id}", "success", meta)
    return Enrollment(otpauth_uri=uri, qr_png=qr_png(uri))


def confirm_totp(
    runtime: AuthRuntime, user_id: str, code: str, meta: RequestMeta, *, issue: bool = True
) -> ConfirmedEnrollment:
    """Finish enrollment with a valid code: 10 fresh recovery codes and, when ``issue``,
    tokens that count as two-factor. Sessions started before enrollment are revoked, so a
    password-only session can never turn into a two-factor one by refreshing."""
    now = runtime.now()
    with runtime.sessions.begin() as session:
        secret = session.get(TotpSecret, user_id)
        if secret is None or secret.confirmed_at is not None:
            raise BadRequest("no pending two-factor enrollment: call /auth/totp/enroll first")
        plain = runtime.secret_box.decrypt(secret.secret_encrypted, context=user_id)
        try:
            step = verify_totp(
                plain, code, last_used_step=secret.last_used_step, now=now.timestamp()
            )
        except TotpInvalid:
            runtime.record(user_id, "totp:confirm", f"user:{user_id}", "failure", meta)
            raise
        confirmed = _consume(
            session,
            _advance_step(user_id, step)
            .where(TotpSecret.confirmed_at.is_(None))
            .values(confirmed_at=now),
        )
        if not confirmed:
            raise BadRequest("no pending two-factor enrollment: call /auth/totp/enroll first")
        revoke_user_sessions(session, user_id, now, "2fa_enrolled")
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


def confirm_step_up(
    runtime: AuthRuntime, user_id: str, code: str, meta: RequestMeta, action: str
) -> None:
    """A signed-in user proves presence again before ``action`` (a review decision from the
    browser): a fresh TOTP code, or one unused recovery code. Each code works once, as at
    sign-in; the per-identity rate limit applies and every outcome is audited."""
    code = (code or "").strip()
    runtime.enforce_limit(runtime.limiters.login_identity, f"step-up:{user_id}", meta, user_id)
    now = runtime.now()
    resource = f"user:{user_id}"
    try:
        with runtime.sessions.begin() as session:
            user = session.get(User, user_id)
            secret = session.get(TotpSecret, user_id)
            if user is None or not user.is_active:
                raise InvalidCredentials()
            if secret is None or secret.confirmed_at is None:
                raise TotpRequired("enroll two-factor authentication first")
            if not code:
                raise TotpRequired("enter the current code from your authenticator app")
            recovery = None if code.isdigit() and len(code) == 6 else code
            _second_factor(
                runtime, session, user, secret, None if recovery else code, recovery, now
            )
    except AuthError as exc:
        runtime.record(user_id, f"step-up:{action}", resource, "failure", meta, reason=exc.code)
        raise
    runtime.record(user_id, f"step-up:{action}", resource, "success", meta)


__all__ = [
    "ConfirmedEnrollment",
    "Enrollment",
    "RiskLevel",
    "confirm_step_up",
    "confirm_totp",
    "enroll_totp",
    "login",
]


INVITE_HOURS = 24


def invite_totp(
    runtime: AuthRuntime, user_id: str, meta: RequestMeta, *, actor_id: str, hours: int
) -> str:
    """A one-time code (shown once) that lets ``user_id`` enrol 2FA within ``hours``; a
    new invite replaces an older one. Refused when 2FA is already enrolled."""
    from auth.models import TotpInvite
    from auth.tokens import hash_opaque_token, new_opaque_token

    if not 1 <= hours <= 7 * 24:
        raise BadRequest("an invite lasts 1 to 168 hours")
    code = new_opaque_token()
    now = runtime.now()
    with runtime.sessions.begin() as session:
        if session.get(User, user_id) is None:
            raise NotFound("no such user")
        secret = session.get(TotpSecret, user_id)
        if secret is not None and secret.confirmed_at is not None:
            raise BadRequest("two-factor authentication is already enrolled")
        session.execute(sa.delete(TotpInvite).where(TotpInvite.user_id == user_id))
        session.add(
            TotpInvite(
                user_id=user_id,
                code_hash=hash_opaque_token(code),
                issued_by=actor_id,
                issued_at=now,
                expires_at=now + timedelta(hours=hours),
            )
        )
    runtime.record(actor_id, "totp:invite", f"user:{user_id}", "success", meta, hours=hours)
    return code


def enroll_totp_with_invite(
    runtime: AuthRuntime, username: str, password: str, invite: str, meta: RequestMeta
) -> Enrollment:
    """Start enrolment for a user who proves both their password (the sign-in rules:
    lockout, limits, audit) and an admin's unexpired invite, which is spent."""
    from auth.accounts import find_user_id
    from auth.models import TotpInvite
    from auth.tokens import hash_opaque_token

    login(runtime, username, password, meta)  # raises on a wrong password, audited
    user_id = find_user_id(runtime, username)
    now = runtime.now()
    with runtime.sessions.begin() as session:
        spent = session.execute(
            sa.delete(TotpInvite).where(
                TotpInvite.user_id == user_id,
                TotpInvite.code_hash == hash_opaque_token(invite.strip()),
                TotpInvite.expires_at > now,
            )
        ).rowcount
    if spent != 1:
        runtime.record(user_id, "totp:enroll", f"user:{user_id}", "denied", meta,
                       reason="invite_invalid")  # fmt: skip
        raise PermissionDenied(
            "the enrolment invite is wrong, used or expired: ask an admin for a new one "
            "(senim users totp-invite)"
        )
    return enroll_totp(runtime, user_id, meta)
