"""Who is calling: authenticate a bearer token or an API key into a ``Principal``.

Checks run on the server for every request, by permission (never by role name), and
consult the database so that logout, key revocation and account disabling take effect
at once rather than when a token expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from auth.api_keys import api_key_hash, api_key_matches, parse_api_key
from auth.errors import (
    FreshSignInRequired,
    NotAuthenticated,
    PermissionDenied,
    TokenInvalid,
    TwoFactorEnrollmentRequired,
)
from auth.models import ApiKey, RefreshToken, RevokedAccessToken, User, UserRole
from auth.permissions import Permission, has_permission, permissions_for, requires_2fa
from auth.runtime import AuthRuntime, RequestMeta
from auth.tokens import decode_access_token


@dataclass(frozen=True)
class Principal:
    kind: str  # "user" or "api_key"
    subject: str  # user id, or the API key's id
    label: str  # what the audit log calls this caller: user id or "key:<prefix>"
    roles: tuple[str, ...]
    mfa_satisfied: bool  # False only for accounts that must still enroll 2FA
    token_jti: str | None = None
    # Bearer tokens only: whether its sign-in passed a second factor, and when it happened.
    signed_in_with_2fa: bool = False
    signed_in_at: datetime | None = None

    @property
    def permissions(self) -> frozenset[Permission]:
        return permissions_for(self.roles)


def require(
    runtime: AuthRuntime,
    principal: Principal,
    permission: Permission,
    meta: RequestMeta,
    resource: str = "",
) -> Principal:
    """Allow or raise; every denial is audited. 2FA-mandatory roles must enroll first."""
    if not principal.mfa_satisfied:
        runtime.record(
            principal.label,
            f"authorize:{permission}",
            resource,
            "denied",
            meta,
            reason="2fa_enrollment_required",
        )
        raise TwoFactorEnrollmentRequired(
            "this account must enroll two-factor authentication before anything else"
        )
    if not has_permission(principal.roles, permission):
        runtime.record(principal.label, f"authorize:{permission}", resource, "denied", meta)
        raise PermissionDenied(f"missing permission {permission}")
    return principal


_users, _roles, _revoked = User.__table__, UserRole.__table__, RevokedAccessToken.__table__
_refresh = RefreshToken.__table__
# Whether any token of the access token's family (its sign-in session) is revoked:
# refresh reuse, logout and disabling revoke families, which ends their access tokens.
_FAMILY_REVOKED = (
    sa.exists()
    .where(_refresh.c.family_id == sa.bindparam("family"), _refresh.c.revoked_at.is_not(None))
    .label("family_revoked")
)
# One round trip per bearer request: the user, each of their roles, whether this
# token's jti is revoked (a row per role; jti is NULL unless revoked), and its family.
_BEARER_LOOKUP = (
    sa.select(_users.c.is_active, _roles.c.role_name, _revoked.c.jti, _FAMILY_REVOKED)
    .select_from(
        _users.outerjoin(_roles, _roles.c.user_id == _users.c.id).outerjoin(
            _revoked, _revoked.c.jti == sa.bindparam("jti")
        )
    )
    .where(_users.c.id == sa.bindparam("subject"))
)
_keys = ApiKey.__table__
_KEY_LOOKUP = sa.select(
    _keys.c.id,
    _keys.c.key_hash,
    _keys.c.role_name,
    _keys.c.revoked_at,
    _keys.c.expires_at,
    _keys.c.last_used_at,
).where(_keys.c.prefix == sa.bindparam("prefix"))
LAST_USED_EVERY_S = 60


def _engine(runtime: AuthRuntime) -> sa.Engine:
    # SQLAlchemy Core on the hot path: about 40 us a lookup against about 200 us via the ORM.
    return runtime.engine if runtime.engine is not None else runtime.sessions.kw["bind"]


def authenticate_bearer(runtime: AuthRuntime, token: str) -> Principal:
    claims = decode_access_token(runtime.tokens, token, now=runtime.now())
    with _engine(runtime).connect() as connection:
        rows = connection.execute(
            _BEARER_LOOKUP,
            {"subject": claims.subject, "jti": claims.jti, "family": claims.extra.get("fam")},
        ).all()
    if (
        not rows
        or not rows[0].is_active
        or rows[0].family_revoked
        or any(row.jti is not None for row in rows)
    ):
        raise TokenInvalid("the access token is no longer valid")
    roles = tuple(row.role_name for row in rows if row.role_name is not None)
    mfa = bool(claims.extra.get("mfa", False))
    auth_time = claims.extra.get("auth_time")
    return Principal(
        kind="user",
        subject=claims.subject,
        label=claims.subject,
        roles=roles,
        mfa_satisfied=mfa or not requires_2fa(roles),
        token_jti=claims.jti,
        signed_in_with_2fa=mfa,
        signed_in_at=(
            datetime.fromtimestamp(auth_time, UTC) if isinstance(auth_time, int | float) else None
        ),
    )


def authenticate_api_key(runtime: AuthRuntime, key: str, meta: RequestMeta) -> Principal:
    prefix, _ = parse_api_key(key)
    now = runtime.now()
    key_hash = api_key_hash(key)
    remembered = runtime.verified_keys.get(key_hash, now)
    if remembered is not None:
        runtime.enforce_limit(runtime.limiters.api_key, prefix, meta, f"key:{prefix}")
        return remembered
    engine = _engine(runtime)
    with engine.connect() as connection:
        record = connection.execute(_KEY_LOOKUP, {"prefix": prefix}).first()
    valid = (
        record is not None
        and api_key_matches(key, record.key_hash)
        and record.revoked_at is None
        and (record.expires_at is None or record.expires_at > now)
    )
    if not valid:
        runtime.record(f"key:{prefix}", "authenticate:api_key", "", "failure", meta)
        raise TokenInvalid("invalid API key")
    runtime.enforce_limit(runtime.limiters.api_key, prefix, meta, f"key:{prefix}")
    # Throttled: one write a minute per key keeps the hot path read-only.
    if (
        record.last_used_at is None
        or (now - record.last_used_at).total_seconds() > LAST_USED_EVERY_S
    ):
        with engine.begin() as connection:
            connection.execute(
                sa.update(_keys).where(_keys.c.id == record.id).values(last_used_at=now)
            )
    principal = Principal(
        kind="api_key",
        subject=record.id,
        label=f"key:{prefix}",
        roles=(record.role_name,),
        mfa_satisfied=True,
    )
    runtime.verified_keys.put(key_hash, prefix, principal, record.expires_at)
    return principal


def authenticate_headers(
    runtime: AuthRuntime, authorization: str | None, api_key: str | None, meta: RequestMeta
) -> Principal:
    """``Authorization: Bearer <jwt>`` or ``X-API-Key: <key>``; never a query parameter.

    A request carrying both is refused: one of them may be invalid (a stale or forged
    token beside a good key), and a request must never pass with a credential that fails.
    """
    if api_key and authorization:
        raise NotAuthenticated("send one credential: Authorization or X-API-Key, not both")
    if api_key:
        return authenticate_api_key(runtime, api_key.strip(), meta)
    if not authorization:
        raise NotAuthenticated("send Authorization: Bearer <token> or X-API-Key: <key>")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise NotAuthenticated("the Authorization header must be 'Bearer <token>'")
    return authenticate_bearer(runtime, credentials.strip())


def require_fresh_sign_in(
    runtime: AuthRuntime, caller: Principal, meta: RequestMeta, action: str
) -> None:
    """A token kept alive by refreshing (or stolen) must not mint long-lived keys."""
    max_age = runtime.params.key_creation_max_auth_age_seconds
    fresh = (
        caller.signed_in_with_2fa
        and caller.signed_in_at is not None
        and (runtime.now() - caller.signed_in_at).total_seconds() <= max_age
    )
    if not fresh:
        runtime.record(caller.label, action, "", "denied", meta, reason="fresh_sign_in_required")
        raise FreshSignInRequired(
            f"sign in again with your password and 2FA code (within {max_age} s) to do this"
        )
