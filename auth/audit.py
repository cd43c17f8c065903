"""The audit trail: who did what, to what, with which outcome.

Requests hand events to ``AuditLog.record``, which only enqueues them; one background
thread inserts them in batches, so a request never waits on the INSERT. Nothing is
dropped: a failed batch is retried with backoff, and a full queue blocks the caller
(back-pressure over loss). Rows are append-only in the database itself.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from auth.models import AUDIT_OUTCOMES, AuditRecord
from senim.batch_writer import BatchWriter
from senim.text_fields import storable_text

logger = logging.getLogger(__name__)

QUERY_LIMIT_CAP = 1000


@dataclass(frozen=True)
class AuditEvent:
    """One thing worth auditing. ``actor`` is a user id, ``"key:<prefix>"`` or ``"anonymous"``."""

    actor: str
    action: str
    resource: str
    outcome: str
    client_ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        # Checked here, in the caller, so the writer never meets a row it cannot insert.
        if self.outcome not in AUDIT_OUTCOMES:
            raise ValueError(f"audit outcome must be one of {AUDIT_OUTCOMES}, got {self.outcome!r}")
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError("audit event time must be timezone-aware")


class AuditLog:
    """Writes audit events from a bounded in-process queue on one background thread
    (``senim.batch_writer``, policy ``block``: never drops, retries until written)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        max_queued: int = 100_000,
        batch_size: int = 200,
        batch_window_s: float = 0.05,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._sessions = session_factory
        self._writer = BatchWriter(
            self._insert,
            policy="block",
            what="audit event",
            thread_name="audit-log-writer",
            log=logger,
            max_queued=max_queued,
            batch_size=batch_size,
            batch_window_s=batch_window_s,
            retry_backoff_s=0.05,
            max_backoff_s=max_backoff_s,
        )

    def record(self, event: AuditEvent) -> None:
        """Queue ``event`` for the writer; blocks only while the queue is full."""
        self._writer.put(_row(event))

    def record_sync(self, event: AuditEvent) -> None:
        """Insert ``event`` now in its own transaction (alerts, CLI); raises if it cannot."""
        self._insert([_row(event)])

    def flush(self, timeout: float = 5.0) -> None:
        """Block until every event recorded before this call is in the database.

        Raises TimeoutError (naming the last database error) if that takes longer than
        ``timeout`` seconds; the events stay queued and the writer keeps retrying.
        """
        self._writer.flush(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Flush, then stop the writer; later ``record`` calls raise.

        If the flush times out, TimeoutError is raised and the writer keeps retrying.
        """
        self._writer.close(timeout)

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        with self._sessions.begin() as session:
            session.execute(sa.insert(AuditRecord), rows)


def query(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[AuditRecord]:
    """Audit rows matching every given filter, newest first (by id, i.e. write order).

    ``since`` is inclusive, ``until`` exclusive; page back with ``before_id`` set to the
    last id seen. ``limit`` is capped at 1000.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    statement = sa.select(AuditRecord)
    if actor is not None:
        statement = statement.where(AuditRecord.actor == actor)
    if action is not None:
        statement = statement.where(AuditRecord.action == action)
    if outcome is not None:
        statement = statement.where(AuditRecord.outcome == outcome)
    if since is not None:
        statement = statement.where(AuditRecord.at >= since)
    if until is not None:
        statement = statement.where(AuditRecord.at < until)
    if before_id is not None:
        statement = statement.where(AuditRecord.id < before_id)
    statement = statement.order_by(AuditRecord.id.desc()).limit(min(limit, QUERY_LIMIT_CAP))
    return list(session.scalars(statement))


def _row(event: AuditEvent) -> dict[str, Any]:
    """The INSERT parameters, copied now so later changes to ``details`` do not leak in."""
    return {
        "at": event.at.astimezone(UTC),
        "actor": storable_text(event.actor),
        "action": storable_text(event.action),
        "resource": storable_text(event.resource),
        "outcome": event.outcome,
        "client_ip": storable_text(event.client_ip),
        "user_agent": storable_text(event.user_agent),
        "request_id": storable_text(event.request_id),
        # default=str: an odd value in details is written as text rather than lost.
        "details": json.loads(json.dumps(event.details, default=str)),
    }
