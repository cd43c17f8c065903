"""The auth tables as typed SQLAlchemy models.

Every timestamp is a timezone-aware UTC ``datetime`` (``UTCDateTime``), on SQLite as on
PostgreSQL. The schema itself is created by the Alembic migration in
``auth/migrations``; a test keeps the two in step.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates

AUDIT_OUTCOMES = ("success", "failure", "denied", "alert")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def normalize_username(username: str) -> str:
    """The form usernames are compared in: NFKC, case-folded, so 'Alice' and 'ＡLICE' collide."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in and out; naive datetimes are refused as ambiguous.

    SQLite has no time zones, so values are stored there as naive UTC text (which also
    keeps them comparable as strings) and marked UTC again when read.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given: pass an aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JSONText(sa.TypeDecorator[Any]):
    """JSON kept in a TEXT column, readable the same way on SQLite and PostgreSQL.

    Changes are seen only when a new value is assigned, not when a list or dict is
    mutated in place.
    """

    impl = sa.Text()
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else json.dumps(value, sort_keys=True)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


# SQLite only auto-increments an INTEGER PRIMARY KEY, never a BIGINT one.
BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONText()}


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(sa.String(150))
    # Set from ``username``; the unique index on it is what makes names case-insensitive.
    username_normalized: Mapped[str] = mapped_column(sa.String(150), unique=True)
    email: Mapped[str | None] = mapped_column(sa.String(254))
    display_name: Mapped[str | None] = mapped_column(sa.String(150))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    disabled_at: Mapped[datetime | None]
    failed_login_count: Mapped[int] = mapped_column(default=0)
    last_failed_login_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    last_login_ip: Mapped[str | None] = mapped_column(sa.String(45))

    @validates("username")
    def _set_normalized(self, _key: str, username: str) -> str:
        self.username_normalized = normalize_username(username)
        return username


class Role(Base):
    __tablename__ = "roles"

    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    description: Mapped[str] = mapped_column(sa.String(255))


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[str] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role_name: Mapped[str] = mapped_column(sa.ForeignKey("roles.name"), primary_key=True)
    granted_by: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    granted_at: Mapped[datetime] = mapped_column(default=utc_now)


class Credential(Base):
    __tablename__ = "credentials"

    user_id: Mapped[str] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


class TotpSecret(Base):
    __tablename__ = "totp_secrets"

    user_id: Mapped[str] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret_encrypted: Mapped[str] = mapped_column(sa.Text)
    confirmed_at: Mapped[datetime | None]
    # The last accepted 30-second step, so one code cannot be replayed.
    last_used_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class RecoveryCode(Base):
    __tablename__ = "recovery_codes"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(255))
    used_at: Mapped[datetime | None]


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(128), unique=True)
    family_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    parent_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("refresh_tokens.id", ondelete="SET NULL")
    )
    issued_at: Mapped[datetime] = mapped_column(default=utc_now)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]  # set when rotated; a second use means theft
    revoked_at: Mapped[datetime | None]
    revoke_reason: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(512))
    ip: Mapped[str | None] = mapped_column(sa.String(45))


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(sa.String(128))
    prefix: Mapped[str] = mapped_column(sa.String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(sa.String(255))
    role_name: Mapped[str] = mapped_column(sa.ForeignKey("roles.name"))
    scopes: Mapped[list[str]] = mapped_column(JSONText, default=list)
    # None when the key was made from the CLI before any user existed.
    created_by: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    owner_user_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class LoginAttempt(Base):
    __tablename__ = "login_attempts"
    __table_args__ = (sa.Index("ix_login_attempts_user_id_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    identity_normalized: Mapped[str] = mapped_column(sa.String(255), index=True)
    user_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    user_agent: Mapped[str | None] = mapped_column(sa.String(512))
    device_fingerprint: Mapped[str | None] = mapped_column(sa.String(128))
    success: Mapped[bool]
    risk_level: Mapped[str | None] = mapped_column(sa.String(16))
    risk_score: Mapped[int | None]
    reasons: Mapped[list[str]] = mapped_column(JSONText, default=list)
    at: Mapped[datetime] = mapped_column(default=utc_now, index=True)


class KnownDevice(Base):
    __tablename__ = "known_devices"

    user_id: Mapped[str] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    device_fingerprint: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(default=utc_now)
    last_seen_at: Mapped[datetime] = mapped_column(default=utc_now)
    trusted: Mapped[bool] = mapped_column(default=False)


class AuditRecord(Base):
    """One row of the audit log. The database refuses UPDATE and DELETE on this table."""

    __tablename__ = "audit_log"
    __table_args__ = (
        sa.CheckConstraint(
            "outcome IN (" + ", ".join(f"'{o}'" for o in AUDIT_OUTCOMES) + ")", name="outcome"
        ),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    actor: Mapped[str] = mapped_column(sa.Text, index=True)  # user id, "key:<prefix>", "anonymous"
    action: Mapped[str] = mapped_column(sa.Text, index=True)
    resource: Mapped[str] = mapped_column(sa.Text)
    outcome: Mapped[str] = mapped_column(sa.String(16))
    client_ip: Mapped[str | None] = mapped_column(sa.Text)
    user_agent: Mapped[str | None] = mapped_column(sa.Text)
    request_id: Mapped[str | None] = mapped_column(sa.Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class RevokedAccessToken(Base):
    """Access tokens ended by logout before they expire; rows past expiry can be purged."""

    __tablename__ = "revoked_access_tokens"

    jti: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.String(36))
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime] = mapped_column(default=utc_now)


class EdgeEventRecord(Base):
    """One event a camera host posted, stored once: ``event_id`` is its Idempotency-Key.

    ``body_sha256`` is the hash of the event's canonical JSON, so a retry with the same
    content is recognised as a duplicate and one with different content as a conflict.
    """

    __tablename__ = "edge_events"

    event_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    host_id: Mapped[str] = mapped_column(sa.String(128), index=True)
    caller: Mapped[str] = mapped_column(sa.Text)  # "key:<prefix>" or a user id, as in audit
    event: Mapped[dict[str, Any]] = mapped_column()
    body_sha256: Mapped[str] = mapped_column(sa.String(64))
    received_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)


class EdgeHostRecord(Base):
    """The latest heartbeat of each camera host: what it runs and how it keeps up."""

    __tablename__ = "edge_hosts"

    host_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    caller: Mapped[str] = mapped_column(sa.Text)
    last_heartbeat: Mapped[dict[str, Any]] = mapped_column()
    last_seen_at: Mapped[datetime] = mapped_column(default=utc_now)
    model_version: Mapped[str | None] = mapped_column(sa.String(64))
    fps: Mapped[float] = mapped_column(sa.Float)
    outbox_depth: Mapped[int]


class ModelAliasEvent(Base):
    """One move of a registry alias (gate, approval, rejection, rollback, auto-promotion).

    MLflow keeps only where an alias points now; this append-only table is the history
    that ``senim models history`` prints and rollback reads. The database refuses UPDATE
    and DELETE on it, like the audit log.
    """

    __tablename__ = "model_alias_events"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utc_now)
    model: Mapped[str] = mapped_column(sa.String(256), index=True)
    alias: Mapped[str] = mapped_column(sa.String(64))
    from_version: Mapped[str | None] = mapped_column(sa.String(32))
    to_version: Mapped[str | None] = mapped_column(sa.String(32))
    action: Mapped[str] = mapped_column(sa.String(16))
    actor: Mapped[str] = mapped_column(sa.Text)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
