"""A short-lived, in-process memory of API keys that passed the database check.

A scoring service checks a key on every request; at hundreds of requests a second the
database lookup (and, with SQLite, the GIL hand-off around it) is a tenth of the work.
A key verified less than ``ttl_s`` seconds ago is trusted again without the lookup.

The trade-off, stated in the README: a key revoked or expired through another process
(``senim keys revoke``, another worker) keeps working here for at most ``ttl_s``
seconds; through this process, revocation is immediate (``forget_prefix``). Entries are
keyed by the key's SHA-256, never the key; failures are never remembered (each one is
looked up and audited). ``ttl_s = 0`` turns the cache off.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

Value = TypeVar("Value")


@dataclass(frozen=True)
class _Entry(Generic[Value]):
    value: Value
    prefix: str
    fresh_until: float  # monotonic seconds
    key_expires_at: datetime | None


class VerifiedKeyCache(Generic[Value]):
    def __init__(
        self,
        ttl_s: float,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s < 0:
            raise ValueError(f"ttl_s must be zero or more, got {ttl_s}")
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, _Entry[Value]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key_hash: str, now: datetime) -> Value | None:
        """The remembered value, or None when absent, stale, or past the key's expiry."""
        if self.ttl_s == 0:
            return None
        with self._lock:
            entry = self._entries.get(key_hash)
            if entry is None:
                return None
            if self._clock() >= entry.fresh_until or (
                entry.key_expires_at is not None and entry.key_expires_at <= now
            ):
                del self._entries[key_hash]
                return None
            return entry.value

    def put(
        self, key_hash: str, prefix: str, value: Value, key_expires_at: datetime | None
    ) -> None:
        if self.ttl_s == 0:
            return
        entry = _Entry(value, prefix, self._clock() + self.ttl_s, key_expires_at)
        with self._lock:
            self._entries[key_hash] = entry
            self._entries.move_to_end(key_hash)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget_prefix(self, prefix: str) -> None:
        """Drop the key with this prefix at once (it was revoked through this process)."""
        with self._lock:
            for key_hash in [h for h, e in self._entries.items() if e.prefix == prefix]:
                del self._entries[key_hash]
