"""The SQLite outbox: every event is stored before any delivery is tried, with one delivery
row per destination, so an offline host loses nothing and a restart resumes where it was.
A delivery is ``pending`` (retried with backoff), ``delivered`` or ``dead`` (refused for
good, kept for inspection)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from edge.protocol import EdgeEvent

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    event_id TEXT NOT NULL REFERENCES events(event_id),
    destination TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (event_id, destination)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_attempt_at);
"""


@dataclass(frozen=True)
class Delivery:
    event: EdgeEvent
    destination: str
    attempts: int


class Outbox:
    """Thread-safe: one connection behind a lock (the frame loop writes, a worker reads)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def enqueue(self, event: EdgeEvent, destinations: list[str]) -> None:
        """Stores the event and a pending delivery per destination, in one transaction."""
        now = time.time()
        payload = json.dumps(event.to_dict(), sort_keys=True)
        with self._lock:
            with self._db:
                self._db.execute("BEGIN")
                self._db.execute(
                    "INSERT OR IGNORE INTO events VALUES (?, ?, ?)", (event.event_id, payload, now)
                )
                self._db.executemany(
                    "INSERT OR IGNORE INTO deliveries "
                    "(event_id, destination, status, next_attempt_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(event.event_id, d, PENDING, now, now) for d in destinations],
                )

    def due(self, now: float, limit: int = 50) -> list[Delivery]:
        with self._lock:
            rows = self._db.execute(
                "SELECT e.payload, d.destination, d.attempts FROM deliveries d "
                "JOIN events e USING (event_id) WHERE d.status = ? AND d.next_attempt_at <= ? "
                "ORDER BY e.created_at, d.destination LIMIT ?",
                (PENDING, now, limit),
            ).fetchall()
        return [Delivery(EdgeEvent.from_dict(json.loads(p)), d, a) for p, d, a in rows]

    def mark(
        self,
        delivery: Delivery,
        status: str,
        next_attempt_at: float = 0.0,
        error: str | None = None,
    ) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?, "
                "last_error = ?, updated_at = ? WHERE event_id = ? AND destination = ?",
                (
                    status,
                    next_attempt_at,
                    error,
                    time.time(),
                    delivery.event.event_id,
                    delivery.destination,
                ),
            )

    def retry_pending_now(self) -> int:
        """Makes every pending delivery due (at start: the server may well be back)."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE deliveries SET next_attempt_at = ? WHERE status = ?", (time.time(), PENDING)
            )
        return cursor.rowcount

    def depth(self) -> int:
        """Deliveries still waiting, all destinations together."""
        with self._lock:
            (count,) = self._db.execute(
                "SELECT COUNT(*) FROM deliveries WHERE status = ?", (PENDING,)
            ).fetchone()
        return int(count)

    def counts(self) -> dict[str, dict[str, int]]:
        """``{destination: {status: n}}``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT destination, status, COUNT(*) FROM deliveries GROUP BY 1, 2 ORDER BY 1, 2"
            ).fetchall()
        result: dict[str, dict[str, int]] = {}
        for destination, status, count in rows:
            result.setdefault(destination, {})[status] = int(count)
        return result

    def recent_events(self, limit: int = 5) -> list[EdgeEvent]:
        with self._lock:
            rows = self._db.execute(
                "SELECT payload FROM events ORDER BY created_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [EdgeEvent.from_dict(json.loads(p)) for (p,) in rows]

    def next_due_at(self) -> float | None:
        with self._lock:
            (value,) = self._db.execute(
                "SELECT MIN(next_attempt_at) FROM deliveries WHERE status = ?", (PENDING,)
            ).fetchone()
        return value
