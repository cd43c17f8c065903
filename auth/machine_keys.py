"""API keys for machine clients (downstream systems, edge devices): create, list, revoke.

A key is shown once, at creation; only its hash and a short prefix (to recognise it in
listings and the audit log) are stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from auth.api_keys import new_api_key
from auth.errors import BadRequest, Conflict, NotFound, PermissionDenied
from auth.models import ApiKey
from auth.permissions import Permission, Role, has_permission, may_grant_role
from auth.runtime import AuthRuntime, RequestMeta, user_id_of

MAX_KEY_DAYS = 730
# Keys are for machines: a key never holds a person's role, so a leaked key can score or
# post events but never manage users, read the audit log or approve models.
KEY_ROLES: frozenset[str] = frozenset({Role.SERVICE, Role.EDGE_DEVICE})


@dataclass(frozen=True)
class ApiKeyView:
    id: str
    name: str
    prefix: str
    role: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class CreatedApiKey:
    key: str  # shown once; never stored
    view: ApiKeyView


def _view(record: ApiKey) -> ApiKeyView:
    return ApiKeyView(
        record.id,
        record.name,
        record.prefix,
        record.role_name,
        list(record.scopes or []),
        record.created_at,
        record.expires_at,
        record.last_used_at,
        record.revoked_at,
    )


def create_key(
    runtime: AuthRuntime,
    name: str,
    role: str,
    meta: RequestMeta,
    *,
    actor_id: str,
    actor_roles: tuple[str, ...],
    scopes: list[str] | None = None,
    expires_in_days: int | None = 365,
    re_enrol: bool = False,
) -> CreatedApiKey:
    """A new key, shown once. An ``edge_device`` key's name is its camera host, owned by
    the host's one active key: another key for the same host needs ``re_enrol`` by a user
    manager, which revokes the old key (so nobody can mint a key to speak as a host)."""
    name = name.strip()
    if not 1 <= len(name) <= 128:
        raise BadRequest("name must be 1-128 characters")
    if role not in {r.value for r in Role}:
        raise BadRequest(f"unknown role {role!r}")
    if role not in KEY_ROLES:
        runtime.record(actor_id, "api_key:create", f"role:{role}", "denied", meta)
        raise PermissionDenied(
            f"API keys are for machines: role must be one of {', '.join(sorted(KEY_ROLES))}"
        )
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_KEY_DAYS:
        raise BadRequest(f"expires_in_days must be 1-{MAX_KEY_DAYS}")
    if not has_permission(actor_roles, Permission.CREATE_API_KEY) or not may_grant_role(
        actor_roles, role
    ):
        runtime.record(actor_id, "api_key:create", f"role:{role}", "denied", meta)
        raise PermissionDenied(f"you may not create keys with role {role}")
    if re_enrol and not has_permission(actor_roles, Permission.MANAGE_USERS):
        runtime.record(actor_id, "api_key:re_enrol", f"host:{name}", "denied", meta)
        raise PermissionDenied("only an admin may re-enrol a host")
    now = runtime.now()
    fresh = new_api_key()
    record = ApiKey(
        name=name,
        prefix=fresh.prefix,
        key_hash=fresh.key_hash,
        role_name=role,
        scopes=sorted(set(scopes or [])),
        created_by=user_id_of(actor_id),
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    with runtime.sessions.begin() as session:
        replaced = []
        if role == Role.EDGE_DEVICE:
            owners = list(session.scalars(_active_host_keys(name)))
            if owners and not re_enrol:
                runtime.record(actor_id, "api_key:create", f"host:{name}", "denied", meta)
                raise Conflict(
                    f"host {name!r} is enrolled (key {owners[0].prefix}); an admin re-enrols "
                    "it (--re-enrol), which revokes the old key"
                )
            for owner in owners:
                owner.revoked_at = now
                runtime.verified_keys.forget_prefix(owner.prefix)
                replaced.append(owner.prefix)
        session.add(record)
    for prefix in replaced:
        runtime.record(
            actor_id, "api_key:revoke", f"key:{prefix}", "success", meta, reason="host_re_enrolled"
        )
    runtime.record(
        actor_id, "api_key:create", f"key:{fresh.prefix}", "success", meta, role=role, name=name
    )
    return CreatedApiKey(key=fresh.key, view=_view(record))


def _active_host_keys(host: str) -> sa.Select:
    return (
        sa.select(ApiKey)
        .where(
            ApiKey.name == host,
            ApiKey.role_name == Role.EDGE_DEVICE,
            ApiKey.revoked_at.is_(None),
        )
        .order_by(ApiKey.created_at)
    )


def owns_host(runtime: AuthRuntime, key_id: str, host: str) -> bool:
    """Whether key ``key_id`` is the one that speaks for ``host``: named after it, and the
    earliest of the host's active keys (a key minted later under its name is no owner)."""
    with runtime.sessions() as session:
        owner = session.scalars(_active_host_keys(host).limit(1)).first()
    return owner is not None and owner.id == key_id


def list_keys(runtime: AuthRuntime, *, minted_by: str | None = None) -> list[ApiKeyView]:
    """Every key, or only those ``minted_by`` one user (what a non-admin may see)."""
    statement = sa.select(ApiKey).order_by(ApiKey.created_at)
    if minted_by is not None:
        statement = statement.where(ApiKey.created_by == minted_by)
    with runtime.sessions() as session:
        return [_view(k) for k in session.scalars(statement)]


def revoke_minted_keys(
    runtime: AuthRuntime, session, user_id: str, still_grantable: frozenset[str]
) -> list[str]:
    """Revoke, in ``session``, the active keys ``user_id`` minted whose role they may no
    longer grant (all of them once the account is disabled); returns their prefixes.

    A key outliving its owner's rights would keep their access alive."""
    keys = session.scalars(
        sa.select(ApiKey).where(ApiKey.created_by == user_id, ApiKey.revoked_at.is_(None))
    )
    revoked = []
    for key in keys:
        if key.role_name not in still_grantable:
            key.revoked_at = runtime.now()
            runtime.verified_keys.forget_prefix(key.prefix)
            revoked.append(key.prefix)
    return revoked


def revoke_key(
    runtime: AuthRuntime,
    prefix: str,
    meta: RequestMeta,
    *,
    actor_id: str,
    actor_roles: tuple[str, ...],
) -> ApiKeyView:
    if not has_permission(actor_roles, Permission.REVOKE_API_KEY):
        runtime.record(actor_id, "api_key:revoke", f"key:{prefix}", "denied", meta)
        raise PermissionDenied("missing permission revoke_api_key")
    with runtime.sessions.begin() as session:
        record = session.scalar(sa.select(ApiKey).where(ApiKey.prefix == prefix))
        if record is None:
            raise NotFound("no API key with that prefix")
        if record.revoked_at is None:
            record.revoked_at = runtime.now()
        runtime.verified_keys.forget_prefix(prefix)
        view = _view(record)
    runtime.record(actor_id, "api_key:revoke", f"key:{prefix}", "success", meta)
    return view
