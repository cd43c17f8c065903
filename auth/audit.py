"""The audit trail: who did what, to what, with which outcome.

Requests hand events to ``AuditLog.record``, which only enqueues them; one background
thread inserts them in batches, so a request never waits on the INSERT. Nothing is
dropped: a failed batch is retried with backoff, and a full queue blocks the caller
(back-pressure over loss). Rows are append-only in the database itself.
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from auth.models import AUDIT_OUTCOMES, AuditRecord
from senim.batch_queue import StopMarker, next_batch
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
    """Writes audit events from a bounded in-process queue on one background thread.

    The thread starts on the first ``record``, not at construction, so an instance made
    before a server forks its workers does not carry a dead thread into them.
    """

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
        self._queue: queue.Queue[dict[str, Any] | StopMarker] = queue.Queue(maxsize=max_queued)
        self._batch_size = batch_size
        self._batch_window_s = batch_window_s
        self._max_backoff_s = max_backoff_s
        self._enqueue_lock = threading.Lock()  # keeps queue order and count order the same
        self._progress = threading.Condition()
        self._enqueued = 0
        self._written = 0
        self._last_error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    def record(self, event: AuditEvent) -> None:
        """Queue ``event`` for the writer; blocks only while the queue is full."""
        row = _row(event)
        with self._enqueue_lock:
            if self._closed:
                raise RuntimeError("the audit log is closed; events can no longer be recorded")
            self._start_writer()
            self._queue.put(row)
            with self._progress:
                self._enqueued += 1

    def record_sync(self, event: AuditEvent) -> None:
        """Insert ``event`` now in its own transaction (alerts, CLI); raises if it cannot."""
        with self._sessions.begin() as session:
            session.execute(sa.insert(AuditRecord), [_row(event)])

    def flush(self, timeout: float = 5.0) -> None:
        """Block until every event recorded before this call is in the database.

        Raises TimeoutError (naming the last database error) if that takes longer than
        ``timeout`` seconds; the events stay queued and the writer keeps retrying.
        """
        with self._progress:
            target = self._enqueued
            if not self._progress.wait_for(lambda: self._written >= target, timeout):
                pending = target - self._written
                cause = f": last error: {self._last_error}" if self._last_error else ""
                raise TimeoutError(
                    f"{pending} audit event(s) still unwritten after {timeout:g}s{cause}"
                )

    def close(self, timeout: float = 5.0) -> None:
        """Flush, then stop the writer; later ``record`` calls raise.

        If the flush times out, TimeoutError is raised and the writer keeps retrying.
        """
        with self._enqueue_lock:
            self._closed = True
        self.flush(timeout)
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(StopMarker())
            self._thread.join(timeout)

    def _start_writer(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="audit-log-writer", daemon=True)
            self._thread.start()
            atexit.register(_flush_at_exit, weakref.ref(self))

    def _run(self) -> None:
        while True:
            batch, stop = self._next_batch()
            if batch:
                self._write_until_done(batch)
            if stop:
                return

    def _next_batch(self) -> tuple[list[dict[str, Any]], bool]:
        return next_batch(self._queue, batch_size=self._batch_size, window_s=self._batch_window_s)

    def _write_until_done(self, batch: list[dict[str, Any]]) -> None:
        backoff = 0.05
        while True:
            try:
                with self._sessions.begin() as session:
                    session.execute(sa.insert(AuditRecord), batch)
            except Exception as exc:  # noqa: BLE001 - any failure: keep the batch, retry
                logger.warning(
                    "audit log: writing %d event(s) failed, retrying in %.2fs: %s",
                    len(batch), backoff, exc,
                )  # fmt: skip
                with self._progress:
                    self._last_error = exc
                time.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff_s)
                continue
            with self._progress:
                self._written += len(batch)
                self._last_error = None
                self._progress.notify_all()
            return


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


def _flush_at_exit(ref: weakref.ref[AuditLog]) -> None:
    audit_log = ref()
    if audit_log is None:
        return
    try:
        audit_log.flush(timeout=5.0)
    except TimeoutError as exc:
        logger.error("audit log: events lost at exit: %s", exc)
