"""Access and refresh tokens for a signed-in user: issue, rotate, revoke.

Refresh tokens are opaque random strings stored only as hashes, rotated on every use.
Each login starts a token *family*; presenting an already-rotated token means it was
copied, so the whole family is revoked and the event is raised as a security alert.
Every access token names its family, and a bearer request is refused once any token of
its family is revoked, so revoking a family (reuse, logout, disabling) ends its access
tokens at once too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from auth.errors import AuthError, TokenExpired, TokenInvalid
from auth.models import RefreshToken, RevokedAccessToken, User, UserRole
from auth.permissions import requires_2fa
from auth.runtime import AuthRuntime, RequestMeta
from auth.tokens import decode_access_token, hash_opaque_token, issue_access_token, new_opaque_token


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int  # seconds until the access token expires
    mfa_enrolled: bool
    token_type: str = "Bearer"


def _roles(session: Session, user_id: str) -> list[str]:
    return sorted(session.scalars(sa.select(UserRole.role_name).where(UserRole.user_id == user_id)))


def issue_tokens(
    runtime: AuthRuntime,
    session: Session,
    user: User,
    meta: RequestMeta,
    *,
    mfa: bool,
    family_id: str | None = None,
    parent_id: str | None = None,
    auth_time: datetime | None = None,
) -> TokenPair:
    """A new access token and refresh token (new family unless rotating one).

    The access token names its family (``fam``: revoking the family ends it at once) and
    when its session's sign-in happened (``auth_time``: a rotation keeps the original).
    """
    now = runtime.now()
    roles = _roles(session, user.id)
    family_id = family_id or str(uuid.uuid4())
    signed_in = auth_time or now
    issued = issue_access_token(
        runtime.tokens,
        subject=user.id,
        roles=roles,
        now=now,
        extra={"mfa": mfa, "fam": family_id, "auth_time": int(signed_in.timestamp())},
    )
    refresh = new_opaque_token()
    session.add(
        RefreshToken(
            user_id=user.id,
            token_hash=hash_opaque_token(refresh),
            family_id=family_id,
            parent_id=parent_id,
            issued_at=now,
            expires_at=now + timedelta(days=runtime.params.refresh_token_days),
            user_agent=meta.user_agent[:512] or None,
            ip=meta.ip,
        )
    )
    return TokenPair(
        access_token=issued.token,
        refresh_token=refresh,
        expires_in=int((issued.expires_at - now).total_seconds()),
        mfa_enrolled=mfa or not requires_2fa(roles),
    )


@dataclass
class _Rotation:
    """What one refresh transaction decided; audited and raised only after it committed."""

    actor: str
    family: str = ""
    failure: AuthError | None = None
    reused: bool = False  # a spent token came back: a theft alert
    revoked: int = 0
    pair: TokenPair | None = None


def refresh_tokens(runtime: AuthRuntime, refresh_token: str, meta: RequestMeta) -> TokenPair:
    """Rotate: the presented token is spent and a new pair issued in the same family.

    A spent token presented again revokes its whole family (committed before the error is
    raised) and is written to the audit log as an alert.
    """
    now = runtime.now()
    with runtime.sessions.begin() as session:
        rotation = _rotate(runtime, session, hash_opaque_token(refresh_token), meta, now)
    resource = f"family:{rotation.family}" if rotation.family else ""
    if rotation.reused:
        runtime.record(
            rotation.actor,
            "token:refresh_reuse",
            resource,
            "alert",
            meta,
            urgent=True,
            revoked_tokens=rotation.revoked,
        )
    if rotation.failure is not None:
        runtime.record(
            rotation.actor, "token:refresh", resource, "failure", meta, reason=rotation.failure.code
        )
        raise rotation.failure
    runtime.record(rotation.actor, "token:refresh", resource, "success", meta)
    return rotation.pair


def _rotate(
    runtime: AuthRuntime, session: Session, token_hash: str, meta: RequestMeta, now: datetime
) -> _Rotation:
    invalid = TokenInvalid("invalid refresh token")
    stored = session.scalar(sa.select(RefreshToken).where(RefreshToken.token_hash == token_hash))
    if stored is None:
        return _Rotation("anonymous", failure=invalid)
    if stored.used_at is not None or stored.revoked_at is not None:
        reused = stored.used_at is not None and stored.revoke_reason is None
        revoked = _revoke_family(
            session, stored.family_id, now, "reuse_detected" if reused else None
        )
        return _Rotation(
            stored.user_id, stored.family_id, failure=invalid, reused=reused, revoked=revoked
        )
    if stored.expires_at <= now:
        expired = TokenExpired("the refresh token has expired; sign in again")
        return _Rotation(stored.user_id, stored.family_id, failure=expired)
    user = session.get(User, stored.user_id)
    if user is None or not user.is_active:
        return _Rotation(stored.user_id, stored.family_id, failure=invalid)
    # One conditional UPDATE, not read-then-write: of two concurrent uses of the same
    # token exactly one wins; the loser is treated as reuse.
    won = session.execute(
        sa.update(RefreshToken)
        .where(
            RefreshToken.id == stored.id,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(used_at=now),
        execution_options={"synchronize_session": False},
    ).rowcount
    if won != 1:
        revoked = _revoke_family(session, stored.family_id, now, "reuse_detected")
        return _Rotation(
            stored.user_id, stored.family_id, failure=invalid, reused=True, revoked=revoked
        )
    started = _family_start(session, stored)
    pair = issue_tokens(
        runtime,
        session,
        user,
        meta,
        mfa=_family_mfa(session, stored, started),
        family_id=stored.family_id,
        parent_id=stored.id,
        auth_time=started,
    )
    return _Rotation(user.id, stored.family_id, pair=pair)


def _family_start(session: Session, token: RefreshToken) -> datetime | None:
    """When the sign-in that started this family happened: its first token's issue time."""
    return session.scalar(
        sa.select(sa.func.min(RefreshToken.issued_at)).where(
            RefreshToken.family_id == token.family_id
        )
    )


def _family_mfa(session: Session, token: RefreshToken, started: datetime | None) -> bool:
    """Whether the login that started this family passed a second factor: the family's
    first token was issued after TOTP was confirmed (every such login must pass it)."""
    from auth.models import TotpSecret

    secret = session.get(TotpSecret, token.user_id)
    if secret is None or secret.confirmed_at is None:
        return False
    return started is not None and secret.confirmed_at <= started


def _revoke_family(session: Session, family_id: str, now: datetime, reason: str | None) -> int:
    result = session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now, revoke_reason=reason or "revoked")
    )
    return result.rowcount or 0


def revoke_user_sessions(session: Session, user_id: str, now: datetime, reason: str) -> int:
    result = session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now, revoke_reason=reason)
    )
    return result.rowcount or 0


def logout(
    runtime: AuthRuntime, access_token: str, refresh_token: str | None, meta: RequestMeta
) -> None:
    """Revoke the presented access token at once and the refresh family it belongs to."""
    claims = decode_access_token(runtime.tokens, access_token, now=runtime.now())
    now = runtime.now()
    with runtime.sessions.begin() as session:
        # ON CONFLICT DO NOTHING: of two logouts racing with one token, the second is a no-op.
        insert = (
            postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        )
        session.execute(
            insert(RevokedAccessToken)
            .values(
                jti=claims.jti,
                user_id=claims.subject,
                expires_at=claims.expires_at,
                revoked_at=now,
            )
            .on_conflict_do_nothing()
        )
        if refresh_token:
            stored = session.scalar(
                sa.select(RefreshToken).where(
                    RefreshToken.token_hash == hash_opaque_token(refresh_token),
                    RefreshToken.user_id == claims.subject,
                )
            )
            if stored is not None:
                _revoke_family(session, stored.family_id, now, "logout")
        else:
            revoke_user_sessions(session, claims.subject, now, "logout")
    runtime.record(claims.subject, "logout", "", "success", meta)
