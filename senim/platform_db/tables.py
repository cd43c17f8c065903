"""The platform's own tables (not identity and access): the prediction log, edge events
and hosts, and the history of registry alias moves. Created by the platform database's
Alembic chain (``senim/platform_db/migrations``); a test keeps the two in step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from senim.platform_db.columns import Base, BigIntId, utc_now

PREDICTION_STATUSES = ("ok", "error")
PREDICTION_ROLES = ("live", "shadow")  # shadow: a challenger scoring live traffic, unanswered


class PredictionLogRecord(Base):
    """One scoring request: who asked, which model answered, how fast, and a summary.

    ``inputs`` and ``outputs`` hold JSON in canonical form (sorted keys, no spaces), so
    ``inputs`` hashes to ``inputs_sha256`` byte for byte; ``inputs`` is NULL unless the
    service is configured to store them.
    """

    __tablename__ = "prediction_log"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in PREDICTION_STATUSES) + ")", name="status"
        ),
        sa.CheckConstraint(
            "role IN (" + ", ".join(f"'{r}'" for r in PREDICTION_ROLES) + ")", name="role"
        ),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    request_id: Mapped[str | None] = mapped_column(sa.Text, index=True)
    caller: Mapped[str] = mapped_column(sa.Text)  # user id or "key:<prefix>", as in the audit log
    endpoint: Mapped[str] = mapped_column(sa.Text)
    model_name: Mapped[str] = mapped_column(sa.Text)
    model_version: Mapped[str] = mapped_column(sa.Text, index=True)
    data_version: Mapped[str | None] = mapped_column(sa.Text)
    rows: Mapped[int]
    inputs_sha256: Mapped[str] = mapped_column(sa.String(64))
    inputs: Mapped[str | None] = mapped_column(sa.Text)
    outputs: Mapped[str] = mapped_column(sa.Text)
    latency_ms: Mapped[float] = mapped_column(sa.Float)
    status: Mapped[str] = mapped_column(sa.String(8))
    error: Mapped[str | None] = mapped_column(sa.Text)
    role: Mapped[str] = mapped_column(sa.String(8), default="live", server_default="live")


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


MONITORED_FAMILIES = ("credit", "emotion")


class MonitoringRowRecord(Base):
    """One scored row kept for monitoring (``monitoring.retention_days``): what drift
    needs and nothing personal. Credit keeps the ratios and sector (company financials);
    emotion keeps face size, brightness and contrast, never the image. ``outcome`` is the
    realised label, attached later (``senim credit outcomes``)."""

    __tablename__ = "monitoring_rows"
    __table_args__ = (
        sa.CheckConstraint(
            "family IN (" + ", ".join(f"'{f}'" for f in MONITORED_FAMILIES) + ")", name="family"
        ),
        sa.Index("ix_monitoring_rows_family_at", "family", "at"),
        sa.Index("ix_monitoring_rows_company_date", "company", "rating_date"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utc_now)
    family: Mapped[str] = mapped_column(sa.String(16))
    request_id: Mapped[str | None] = mapped_column(sa.Text, index=True)
    row_index: Mapped[int] = mapped_column(default=0)  # the row's place in its request
    model_name: Mapped[str] = mapped_column(sa.Text)
    model_version: Mapped[str] = mapped_column(sa.Text)
    features: Mapped[dict[str, Any]] = mapped_column()
    prediction: Mapped[str] = mapped_column(sa.String(32))  # band or emotion
    score: Mapped[float | None] = mapped_column(sa.Float)  # 0-100 score or confidence
    company: Mapped[str | None] = mapped_column(sa.Text)  # the Name sent, if any
    rating_date: Mapped[str | None] = mapped_column(sa.String(10))  # ISO date rated as of
    outcome: Mapped[str | None] = mapped_column(sa.String(32))  # the realised band
    outcome_at: Mapped[datetime | None] = mapped_column()
    outcome_by: Mapped[str | None] = mapped_column(sa.Text)


class RetrainingLease(Base):
    """At most one monitor-started retraining in flight per family: the row is the lease.

    Taking it is an INSERT, refused by the primary key while another holds it, so the
    rule holds across processes and machines sharing the platform database; a lease
    past ``expires_at`` (a crashed run) may be taken over."""

    __tablename__ = "retraining_leases"

    family: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.Text)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    acquired_at: Mapped[datetime] = mapped_column(default=utc_now)
    expires_at: Mapped[datetime] = mapped_column()
