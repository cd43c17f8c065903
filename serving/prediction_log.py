"""The prediction log: every scoring request and a summary of its answer, for monitoring.

``PredictionLog.record`` only enqueues; one background thread inserts in batches. The
trade-off is the audit log's reversed: a response must never wait on this log, so a full
queue drops the event instead of blocking, and a batch that still fails after a few
retries is dropped too. No drop is silent: each is counted (``stats``) and logged, the
queue-full ones at WARNING at most once a second, the failed batches at ERROR.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from auth.db import make_engine
from senim.batch_queue import StopMarker, next_batch
from senim.text_fields import storable_text
from serving.prediction_log_model import PREDICTION_STATUSES, PredictionLogRecord, ensure_schema

__all__ = ["PredictionEvent", "PredictionLog", "canonical_json", "ensure_schema"]

logger = logging.getLogger(__name__)

DROP_WARNING_INTERVAL_S = 1.0
_TABLE = PredictionLogRecord.__table__


@dataclass(frozen=True)
class PredictionEvent:
    """One scoring request as the service saw it.

    ``inputs`` are the raw feature rows (hashed always, stored only if configured);
    ``outputs`` a per-row summary such as band, score and decision. ``caller`` is a user
    id or ``"key:<prefix>"``, as in the audit log.
    """

    caller: str
    endpoint: str
    model_name: str
    model_version: str
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    latency_ms: float
    status: str = "ok"
    error: str | None = None
    request_id: str | None = None
    data_version: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        # Checked in the caller, so the writer never meets a row the database refuses.
        if self.status not in PREDICTION_STATUSES:
            raise ValueError(
                f"prediction status must be one of {PREDICTION_STATUSES}, got {self.status!r}"
            )
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError("prediction event time must be timezone-aware")


def canonical_json(value: Any) -> str:
    """The one text form that ``inputs_sha256`` hashes: sorted keys, no whitespace, ASCII.

    ``default=str`` writes an odd value (a date, a Decimal) as text rather than failing.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


_Begin = Callable[[], AbstractContextManager[sa.Connection | Session]]


class PredictionLog:
    """Writes prediction events from a bounded in-process queue on one background thread.

    Takes an engine or a session factory. The thread starts on the first ``record``, not
    here, so an instance made before a server forks its workers carries no dead thread.
    """

    def __init__(
        self,
        database: sa.Engine | sessionmaker[Session],
        *,
        store_inputs: bool = False,
        max_queued: int = 10_000,
        batch_size: int = 500,
        batch_window_s: float = 0.05,
        max_attempts: int = 5,
        retry_backoff_s: float = 0.1,
        max_backoff_s: float = 2.0,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self._begin: _Begin = database.begin
        self._store_inputs = store_inputs
        self._queue: queue.Queue[dict[str, Any] | StopMarker] = queue.Queue(maxsize=max_queued)
        self._batch_size = batch_size
        self._batch_window_s = batch_window_s
        self._max_attempts = max_attempts
        self._retry_backoff_s = retry_backoff_s
        self._max_backoff_s = max_backoff_s
        self._owned_engine: sa.Engine | None = None
        # Guards the counters; never held during I/O, so record() waits only on counting.
        self._progress = threading.Condition()
        self._recorded = 0
        self._written = 0
        self._dropped = 0
        self._failed_batches = 0
        self._dropped_logged = 0
        self._last_drop_warning = float("-inf")
        self._last_error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    @classmethod
    def from_database_url(cls, url: str, **options: Any) -> PredictionLog:
        """A log on its own engine for ``url``, with the table created; ``close`` disposes it."""
        engine = make_engine(url)
        try:
            ensure_schema(engine)
        finally:
            engine.dispose()  # leaves no pooled connection for forked workers to inherit
        log = cls(engine, **options)
        log._owned_engine = engine
        return log

    def record(self, event: PredictionEvent) -> bool:
        """Queue ``event`` without ever blocking or raising; False if it was dropped.

        A drop (full queue, closed log, unserialisable event) is counted and logged.
        """
        try:
            row = self._row(event)
        except Exception as exc:  # noqa: BLE001 - a bad event must not fail the response
            logger.error("prediction log: dropped an event that cannot be serialised: %s", exc)
            with self._progress:
                self._recorded += 1
                self._dropped += 1
                self._dropped_logged += 1
                self._progress.notify_all()
            return False
        with self._progress:
            self._recorded += 1
            accepted = not self._closed
            if accepted:
                self._start_writer()
                try:
                    self._queue.put_nowait(row)
                except queue.Full:
                    accepted = False
            if not accepted:
                self._dropped += 1
                self._progress.notify_all()
        if not accepted:
            # Once closed no writer is left to log rate-limited drops later, so log now.
            self._report_drops(force=self._closed)
        return accepted

    def stats(self) -> dict[str, int]:
        """Counts since construction; ``written + dropped + queued == recorded`` always.

        ``queued`` includes the batch the writer is inserting or retrying;
        ``failed_batches`` counts batches given up after ``max_attempts``.
        """
        with self._progress:
            return {
                "recorded": self._recorded,
                "queued": self._recorded - self._written - self._dropped,
                "written": self._written,
                "dropped": self._dropped,
                "failed_batches": self._failed_batches,
            }

    def flush(self, timeout: float = 5.0) -> None:
        """Block until every event recorded before this call is written or dropped.

        Raises TimeoutError (naming the last database error) after ``timeout`` seconds;
        the events stay queued and the writer keeps trying.
        """
        with self._progress:
            target = self._recorded
            done = self._progress.wait_for(lambda: self._written + self._dropped >= target, timeout)
            if not done:
                pending = target - self._written - self._dropped
                cause = f": last error: {self._last_error}" if self._last_error else ""
                raise TimeoutError(
                    f"{pending} prediction event(s) still unwritten after {timeout:g}s{cause}"
                )

    def close(self, timeout: float = 5.0) -> None:
        """Flush, stop the writer and log any drops not yet logged; later events are dropped.

        If the flush times out, TimeoutError is raised and the writer keeps trying.
        """
        with self._progress:
            self._closed = True
        try:
            self.flush(timeout)
            if self._thread is not None and self._thread.is_alive():
                self._queue.put(StopMarker(), timeout=timeout)
                self._thread.join(timeout)
        finally:
            self._report_drops(force=True)
        if self._owned_engine is not None:
            self._owned_engine.dispose()

    def _row(self, event: PredictionEvent) -> dict[str, Any]:
        """The INSERT parameters, serialised now so later changes to the event do not leak in."""
        inputs = canonical_json(event.inputs)
        return {
            "at": event.at.astimezone(UTC),
            "request_id": storable_text(event.request_id),
            "caller": storable_text(event.caller),
            "endpoint": storable_text(event.endpoint),
            "model_name": storable_text(event.model_name),
            "model_version": storable_text(event.model_version),
            "data_version": storable_text(event.data_version),
            "rows": len(event.inputs),
            "inputs_sha256": hashlib.sha256(inputs.encode()).hexdigest(),
            "inputs": inputs if self._store_inputs else None,
            "outputs": canonical_json(event.outputs),
            "latency_ms": float(event.latency_ms),
            "status": event.status,
            "error": storable_text(event.error),
        }

    def _report_drops(self, *, force: bool = False) -> None:
        """Log drops not logged yet, at most once a second unless ``force``d."""
        now = time.monotonic()
        with self._progress:
            unlogged = self._dropped - self._dropped_logged
            if unlogged <= 0 or (
                not force and now - self._last_drop_warning < DROP_WARNING_INTERVAL_S
            ):
                return
            self._dropped_logged = self._dropped
            self._last_drop_warning = now
            total, queued = self._dropped, self._recorded - self._written - self._dropped
        logger.warning(
            "prediction log: dropped %d event(s) (%d in all); %d queued, queue full or log closed",
            unlogged, total, queued,
        )  # fmt: skip

    def _start_writer(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="prediction-log-writer", daemon=True
            )
            self._thread.start()
            atexit.register(_flush_at_exit, weakref.ref(self))

    def _run(self) -> None:
        while True:
            batch, stop = self._next_batch()
            if batch:
                self._write(batch)
            # Drops rate-limited away in record() get their warning here, within a second.
            self._report_drops()
            if stop:
                return

    def _next_batch(self) -> tuple[list[dict[str, Any]], bool]:
        # Wakes after a second idle, so pending drop warnings go out.
        return next_batch(
            self._queue,
            batch_size=self._batch_size,
            window_s=self._batch_window_s,
            first_timeout=DROP_WARNING_INTERVAL_S,
        )

    def _write(self, batch: list[dict[str, Any]]) -> None:
        """Insert ``batch``, retrying with backoff; after ``max_attempts`` drop it, loudly."""
        backoff = self._retry_backoff_s
        for attempt in range(1, self._max_attempts + 1):
            try:
                with self._begin() as transaction:
                    transaction.execute(sa.insert(_TABLE), batch)
            except Exception as exc:  # noqa: BLE001 - any failure: retry, then count the loss
                with self._progress:
                    self._last_error = exc
                if attempt < self._max_attempts:
                    logger.warning(
                        "prediction log: writing %d event(s) failed (attempt %d of %d), "
                        "retrying in %.2fs: %s",
                        len(batch), attempt, self._max_attempts, backoff, exc,
                    )  # fmt: skip
                    time.sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff_s)
                    continue
                with self._progress:
                    total = self._dropped + len(batch)
                # Logged before it is counted: whoever flush() releases has the error line.
                logger.error(
                    "prediction log: dropped %d event(s) after %d failed attempts "
                    "(%d dropped in all): %s",
                    len(batch), self._max_attempts, total, exc,
                )  # fmt: skip
                with self._progress:
                    self._dropped += len(batch)
                    self._dropped_logged += len(batch)
                    self._failed_batches += 1
                    self._progress.notify_all()
                return
            with self._progress:
                self._written += len(batch)
                self._last_error = None
                self._progress.notify_all()
            return


def _flush_at_exit(ref: weakref.ref[PredictionLog]) -> None:
    prediction_log = ref()
    if prediction_log is None:
        return
    try:
        prediction_log.close(timeout=5.0)
    except TimeoutError as exc:
        logger.error("prediction log: events lost at exit: %s", exc)
