"""The prediction log: every scoring request and a summary of its answer, for monitoring.

``PredictionLog.record`` only enqueues; one background thread inserts in batches. The
trade-off is the audit log's reversed: a response must never wait on this log, so a full
queue drops the event instead of blocking, and a batch that still fails after a few
retries is dropped too, counted and logged (``senim.batch_writer``, policy ``drop``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from senim.batch_writer import BatchWriter
from senim.platform_db.engine import make_engine, migrate
from senim.platform_db.tables import (
    MONITORED_FAMILIES,
    PREDICTION_ROLES,
    PREDICTION_STATUSES,
    MonitoringRowRecord,
    PredictionLogRecord,
)
from senim.text_fields import storable_text

logger = logging.getLogger(__name__)

_TABLE = PredictionLogRecord.__table__
_MONITORING = MonitoringRowRecord.__table__
_MONITORING_KEY = "__monitoring__"  # the queued row's monitoring rows, split off on insert


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
    role: str = "live"  # "shadow": a challenger's answer to the same request, never returned
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # What monitoring keeps of each scored row (``monitoring_rows``): a family and per row
    # ``row_index``, ``features``, ``prediction``, ``score``, ``company``, ``rating_date``.
    monitoring_family: str | None = None
    monitoring: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        # Checked in the caller, so the writer never meets a row the database refuses.
        if self.status not in PREDICTION_STATUSES:
            raise ValueError(
                f"prediction status must be one of {PREDICTION_STATUSES}, got {self.status!r}"
            )
        if self.role not in PREDICTION_ROLES:
            raise ValueError(
                f"prediction role must be one of {PREDICTION_ROLES}, got {self.role!r}"
            )
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError("prediction event time must be timezone-aware")
        if self.monitoring and self.monitoring_family not in MONITORED_FAMILIES:
            raise ValueError(
                f"monitoring family must be one of {MONITORED_FAMILIES}, "
                f"got {self.monitoring_family!r}"
            )


def canonical_json(value: Any) -> str:
    """The one text form that ``inputs_sha256`` hashes: sorted keys, no whitespace, ASCII.

    ``default=str`` writes an odd value (a date, a Decimal) as text rather than failing.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


_Begin = Callable[[], AbstractContextManager[sa.Connection | Session]]


class PredictionLog:
    """Writes prediction events from a bounded in-process queue on one background thread
    (``senim.batch_writer``, policy ``drop``: a response never waits on this log).

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
        self._begin: _Begin = database.begin
        self._store_inputs = store_inputs
        self._owned_engine: sa.Engine | None = None
        self._writer = BatchWriter(
            self._insert,
            policy="drop",
            what="prediction event",
            thread_name="prediction-log-writer",
            log=logger,
            max_queued=max_queued,
            batch_size=batch_size,
            batch_window_s=batch_window_s,
            max_attempts=max_attempts,
            retry_backoff_s=retry_backoff_s,
            max_backoff_s=max_backoff_s,
        )

    @classmethod
    def from_database_url(cls, url: str, **options: Any) -> PredictionLog:
        """A log on its own engine for ``url``, migrated to head; ``close`` disposes it."""
        engine = make_engine(url)
        try:
            migrate(engine)
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
            self._writer.count_dropped(exc)
            return False
        return self._writer.put(row)

    def stats(self) -> dict[str, int]:
        """Counts since construction; ``written + dropped + queued == recorded`` always.

        ``queued`` includes the batch the writer is inserting or retrying;
        ``failed_batches`` counts batches given up after ``max_attempts``.
        """
        return self._writer.stats()

    def flush(self, timeout: float = 5.0) -> None:
        """Block until every event recorded before this call is written or dropped.

        Raises TimeoutError (naming the last database error) after ``timeout`` seconds;
        the events stay queued and the writer keeps trying.
        """
        self._writer.flush(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Flush, stop the writer and log any drops not yet logged; later events are dropped.

        If the flush times out, TimeoutError is raised and the writer keeps trying.
        """
        self._writer.close(timeout)
        if self._owned_engine is not None:
            self._owned_engine.dispose()

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        events = [{k: v for k, v in row.items() if k != _MONITORING_KEY} for row in rows]
        kept = [one for row in rows for one in row.get(_MONITORING_KEY, ())]
        with self._begin() as transaction:
            transaction.execute(sa.insert(_TABLE), events)
            if kept:
                transaction.execute(sa.insert(_MONITORING), kept)

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
            "role": event.role,
            **({_MONITORING_KEY: _monitoring_rows(event)} if event.monitoring else {}),
        }


def _monitoring_rows(event: PredictionEvent) -> list[dict[str, Any]]:
    """The ``monitoring_rows`` INSERT parameters of ``event``, copied now."""
    shared = {
        "at": event.at.astimezone(UTC),
        "family": event.monitoring_family,
        "request_id": storable_text(event.request_id),
        "model_name": storable_text(event.model_name),
        "model_version": storable_text(event.model_version),
    }
    return [
        {
            **shared,
            "row_index": int(row.get("row_index", index)),
            "features": json.loads(canonical_json(row["features"])),
            "prediction": storable_text(str(row["prediction"]))[:32],
            "score": None if row.get("score") is None else float(row["score"]),
            "company": storable_text(row.get("company")),
            "rating_date": row.get("rating_date"),
        }
        for index, row in enumerate(event.monitoring)
    ]
