"""User accounts: create, list, disable, grant roles, and the first-admin bootstrap."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from auth.errors import BadRequest, Conflict, NotFound, PermissionDenied
from auth.models import Credential, User, UserRole
from auth.permissions import Permission, Role, has_permission, may_grant_role
from auth.runtime import AuthRuntime, RequestMeta, user_id_of

USERNAME_MAX = 150


@dataclass(frozen=True)
class UserView:
    id: str
    username: str
    email: str | None
    roles: list[str]
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None
    totp_enrolled: bool


def normalize_identity(identity: str) -> str:
    """Case- and width-insensitive form used for lookups, lockout and rate limits."""
    return unicodedata.normalize("NFKC", identity).strip().casefold()[:USERNAME_MAX]


def _check_username(username: str) -> str:
    name = unicodedata.normalize("NFKC", username).strip()
    if not (3 <= len(name) <= USERNAME_MAX) or any(
        ch.isspace() or not ch.isprintable() for ch in name
    ):
        raise BadRequest(f"username must be 3-{USERNAME_MAX} printable characters without spaces")
    return name


def _parse_roles(roles: list[str]) -> list[str]:
    valid = {r.value for r in Role}
    unknown = [r for r in roles if r not in valid]
    if unknown:
        raise BadRequest(
            f"unknown role(s) {', '.join(unknown)}; choose from {', '.join(sorted(valid))}"
        )
    return sorted(set(roles))


def admin_exists(runtime: AuthRuntime) -> bool:
    with runtime.sessions() as session:
        return (
            session.scalar(
                sa.select(sa.func.count())
                .select_from(UserRole)
                .where(UserRole.role_name == Role.ADMIN)
            )
            > 0
        )


def create_user(
    runtime: AuthRuntime,
    username: str,
    password: str,
    roles: list[str],
    meta: RequestMeta,
    *,
    actor_id: str | None,
    actor_roles: tuple[str, ...] = (),
    email: str | None = None,
) -> UserView:
    """Create an account. ``actor_id=None`` is the first-admin bootstrap (no admin yet)."""
    name = _check_username(username)
    roles = _parse_roles(roles)
    if actor_id is None:
        if admin_exists(runtime):
            raise PermissionDenied("an admin exists: sign in as an admin to create users")
        if Role.ADMIN not in roles:
            raise BadRequest("the first account must have the admin role")
    else:
        if not has_permission(actor_roles, Permission.MANAGE_USERS):
            raise PermissionDenied("missing permission manage_users")
        denied = [r for r in roles if not may_grant_role(actor_roles, r)]
        if denied:
            raise PermissionDenied(f"you may not grant role(s) {', '.join(denied)}")
    runtime.passwords.check_policy(password, identity=name)
    now = runtime.now()
    password_hash = runtime.passwords.hash(password)
    taken = Conflict("that username is taken")
    try:
        with runtime.sessions.begin() as session:
            normalized = normalize_identity(name)
            if session.scalar(sa.select(User.id).where(User.username_normalized == normalized)):
                raise taken
            user = User(username=name, username_normalized=normalized, email=email, created_at=now)
            session.add(user)
            session.flush()
            session.add(Credential(user_id=user.id, password_hash=password_hash, updated_at=now))
            granted_by = user_id_of(actor_id)
            for role in roles:
                session.add(
                    UserRole(user_id=user.id, role_name=role, granted_by=granted_by, granted_at=now)
                )
    except sa.exc.IntegrityError:  # the same name, created by a concurrent request
        raise taken from None
    runtime.record(
        actor_id or "bootstrap",
        "user:create",
        f"user:{user.id}",
        "success",
        meta,
        username=name,
        roles=roles,
    )
    return get_user(runtime, user.id)


def get_user(runtime: AuthRuntime, user_id: str) -> UserView:
    from auth.models import TotpSecret

    with runtime.sessions() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound("no such user")
        roles = sorted(
            session.scalars(sa.select(UserRole.role_name).where(UserRole.user_id == user_id))
        )
        secret = session.get(TotpSecret, user_id)
        return UserView(
            user.id,
            user.username,
            user.email,
            roles,
            user.is_active,
            user.created_at,
            user.last_login_at,
            bool(secret and secret.confirmed_at),
        )


def find_user_id(runtime: AuthRuntime, username: str) -> str:
    with runtime.sessions() as session:
        user_id = session.scalar(
            sa.select(User.id).where(User.username_normalized == normalize_identity(username))
        )
    if user_id is None:
        raise NotFound(f"no user named {username!r}")
    return user_id


def list_users(runtime: AuthRuntime) -> list[UserView]:
    with runtime.sessions() as session:
        ids = list(session.scalars(sa.select(User.id).order_by(User.created_at)))
    return [get_user(runtime, user_id) for user_id in ids]


def disable_user(
    runtime: AuthRuntime, user_id: str, meta: RequestMeta, *, actor_id: str
) -> UserView:
    """Disable the account, revoke its sessions (and so its access tokens) and every API
    key it minted, at once; each revoked key is audited."""
    from auth.machine_keys import revoke_minted_keys
    from auth.sessions import revoke_user_sessions

    now = runtime.now()
    with runtime.sessions.begin() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound("no such user")
        user.is_active, user.disabled_at = False, now
        revoke_user_sessions(session, user_id, now, "account_disabled")
        keys = revoke_minted_keys(runtime, session, user_id, still_grantable=frozenset())
    runtime.record(actor_id, "user:disable", f"user:{user_id}", "success", meta)
    _audit_key_revocations(runtime, actor_id, keys, meta, "owner_disabled")
    return get_user(runtime, user_id)


def remove_role(
    runtime: AuthRuntime,
    user_id: str,
    role: str,
    meta: RequestMeta,
    *,
    actor_id: str,
    actor_roles: tuple[str, ...],
) -> UserView:
    """Take ``role`` away; the keys the user minted with a role they may no longer grant
    are revoked with it (audited)."""
    from auth.machine_keys import revoke_minted_keys
    from auth.permissions import GRANTABLE_ROLES

    (role,) = _parse_roles([role])
    if not has_permission(actor_roles, Permission.MANAGE_USERS):
        runtime.record(actor_id, "user:revoke_role", f"user:{user_id}", "denied", meta, role=role)
        raise PermissionDenied("missing permission manage_users")
    with runtime.sessions.begin() as session:
        if session.get(User, user_id) is None:
            raise NotFound("no such user")
        held = session.get(UserRole, (user_id, role))
        if held is None:
            raise BadRequest(f"the user does not have role {role}")
        session.delete(held)
        session.flush()
        remaining = session.scalars(
            sa.select(UserRole.role_name).where(UserRole.user_id == user_id)
        )
        grantable = frozenset(
            str(granted)
            for held_role in remaining
            if held_role in {r.value for r in Role}
            for granted in GRANTABLE_ROLES[Role(held_role)]
        )
        keys = revoke_minted_keys(runtime, session, user_id, still_grantable=grantable)
    runtime.record(actor_id, "user:revoke_role", f"user:{user_id}", "success", meta, role=role)
    _audit_key_revocations(runtime, actor_id, keys, meta, "owner_lost_role")
    return get_user(runtime, user_id)


def _audit_key_revocations(
    runtime: AuthRuntime, actor_id: str, prefixes: list[str], meta: RequestMeta, reason: str
) -> None:
    for prefix in prefixes:
        runtime.record(actor_id, "api_key:revoke", f"key:{prefix}", "success", meta, reason=reason)


def grant_role(
    runtime: AuthRuntime,
    user_id: str,
    role: str,
    meta: RequestMeta,
    *,
    actor_id: str,
    actor_roles: tuple[str, ...],
) -> UserView:
    (role,) = _parse_roles([role])
    if not may_grant_role(actor_roles, role):
        runtime.record(actor_id, "user:grant", f"user:{user_id}", "denied", meta, role=role)
        raise PermissionDenied(f"you may not grant role {role}")
    with runtime.sessions.begin() as session:
        if session.get(User, user_id) is None:
            raise NotFound("no such user")
        if session.get(UserRole, (user_id, role)) is None:
            session.add(
                UserRole(
                    user_id=user_id,
                    role_name=role,
                    granted_by=user_id_of(actor_id),
                    granted_at=runtime.now(),
                )
            )
    runtime.record(actor_id, "user:grant", f"user:{user_id}", "success", meta, role=role)
    return get_user(runtime, user_id)
