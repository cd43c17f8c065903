"""API keys for machine clients (downstream systems, edge devices): create, list, revoke.

A key is shown once, at creation; only its hash and a short prefix (to recognise it in
listings and the audit log) are stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from auth.api_keys import new_api_key
from auth.errors import BadRequest, NotFound, PermissionDenied
from auth.models import ApiKey
from auth.permissions import Permission, Role, has_permission, may_grant_role
from auth.runtime import AuthRuntime, RequestMeta, user_id_of

MAX_KEY_DAYS = 730


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
) -> CreatedApiKey:
    name = name.strip()
    if not 1 <= len(name) <= 128:
        raise BadRequest("name must be 1-128 characters")
    if role not in {r.value for r in Role}:
        raise BadRequest(f"unknown role {role!r}")
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_KEY_DAYS:
        raise BadRequest(f"expires_in_days must be 1-{MAX_KEY_DAYS}")
    if not has_permission(actor_roles, Permission.CREATE_API_KEY) or not may_grant_role(
        actor_roles, role
    ):
        runtime.record(actor_id, "api_key:create", f"role:{role}", "denied", meta)
        raise PermissionDenied(f"you may not create keys with role {role}")
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
        session.add(record)
    runtime.record(
        actor_id, "api_key:create", f"key:{fresh.prefix}", "success", meta, role=role, name=name
    )
    return CreatedApiKey(key=fresh.key, view=_view(record))


def list_keys(runtime: AuthRuntime) -> list[ApiKeyView]:
    with runtime.sessions() as session:
        return [_view(k) for k in session.scalars(sa.select(ApiKey).order_by(ApiKey.created_at))]


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
