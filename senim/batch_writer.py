"""Rows written to a database in batches, on one background thread, never on the caller's.

The audit log and the prediction log both write this way; they differ only in what they
do when the database cannot keep up, which is the ``policy``:

- ``block`` (the audit log: nothing may be lost): a full queue blocks the caller
  (back-pressure over loss) and a failed batch is retried with backoff until it is in;
- ``drop`` (the prediction log: a response must never wait): a full queue or a closed
  writer drops the row, and a batch that still fails after ``max_attempts`` is dropped.
  No drop is silent: each is counted (``stats``) and logged, the queue-full ones at
  WARNING at most once a second, the failed batches at ERROR.

The thread starts on the first row, not at construction, so a writer made before a
server forks its workers does not carry a dead thread into them.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Literal

Policy = Literal["block", "drop"]
DROP_WARNING_INTERVAL_S = 1.0

Row = dict[str, Any]


class StopMarker:
    """Queued after the last row: the writer exits once it reaches it."""


def next_batch(
    rows: queue.Queue,
    *,
    batch_size: int,
    window_s: float,
    first_timeout: float | None = None,
) -> tuple[list[Any], bool]:
    """Up to ``batch_size`` rows, waiting at most ``window_s`` after the first.

    Returns ``(batch, stop)``; with ``first_timeout`` an idle queue yields an empty batch
    after that many seconds instead of blocking forever.
    """
    try:
        first = rows.get(timeout=first_timeout)
    except queue.Empty:
        return [], False
    if isinstance(first, StopMarker):
        return [], True
    batch = [first]
    if rows.qsize() < batch_size - 1:
        # One sleep, then whatever came: waiting on the queue instead would wake this
        # thread (and take the GIL from the request path) once per row.
        time.sleep(window_s)
    while len(batch) < batch_size:
        try:
            item = rows.get_nowait()
        except queue.Empty:
            break
        if isinstance(item, StopMarker):
            return batch, True
        batch.append(item)
    return batch, False


class BatchWriter:
    """A bounded queue of rows and the thread that inserts them with ``insert(batch)``.

    ``what`` names the rows in messages ("audit event", "prediction event"); ``log`` is
    the owner's logger, so its lines read as the owner's.
    """

    def __init__(
        self,
        insert: Callable[[list[Row]], None],
        *,
        policy: Policy,
        what: str,
        thread_name: str,
        log: logging.Logger,
        max_queued: int,
        batch_size: int,
        batch_window_s: float,
        max_attempts: int | None = None,
        retry_backoff_s: float = 0.05,
        max_backoff_s: float = 5.0,
    ) -> None:
        if policy == "drop" and (max_attempts is None or max_attempts < 1):
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self._insert = insert
        self._policy = policy
        self._what = what
        self._thread_name = thread_name
        self._log = log
        self._queue: queue.Queue[Row | StopMarker] = queue.Queue(maxsize=max_queued)
        self._batch_size = batch_size
        self._batch_window_s = batch_window_s
        self._max_attempts = max_attempts
        self._retry_backoff_s = retry_backoff_s
        self._max_backoff_s = max_backoff_s
        # Keeps queue order and count order the same for blocking puts; never held
        # during I/O, so a dropping put waits only on counting.
        self._enqueue_lock = threading.Lock()
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

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, row: Row) -> bool:
        """Queue ``row``. ``block``: waits while the queue is full, raises once closed;
        ``drop``: never waits or raises, and returns False when the row was dropped."""
        if self._policy == "block":
            with self._enqueue_lock:
                if self._closed:
                    raise RuntimeError(
                        f"the {self._name} is closed; events can no longer be recorded"
                    )
                self._start_writer()
                self._queue.put(row)
                with self._progress:
                    self._recorded += 1
            return True
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

    def count_dropped(self, error: BaseException) -> None:
        """Count a row the owner could not even build (``drop`` policy), logged now."""
        self._log.error(f"{self._name}: dropped an event that cannot be serialised: %s", error)
        with self._progress:
            self._recorded += 1
            self._dropped += 1
            self._dropped_logged += 1
            self._progress.notify_all()

    def stats(self) -> dict[str, int]:
        """Counts since construction; ``written + dropped + queued == recorded`` always.

        ``queued`` includes the batch being inserted or retried; ``failed_batches``
        counts batches given up after ``max_attempts``.
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
        """Block until every row queued before this call is written (or dropped).

        Raises TimeoutError (naming the last database error) after ``timeout`` seconds;
        the rows stay queued and the writer keeps trying.
        """
        with self._progress:
            target = self._recorded
            done = self._progress.wait_for(lambda: self._written + self._dropped >= target, timeout)
            if not done:
                pending = target - self._written - self._dropped
                cause = f": last error: {self._last_error}" if self._last_error else ""
                raise TimeoutError(
                    f"{pending} {self._what}(s) still unwritten after {timeout:g}s{cause}"
                )

    def close(self, timeout: float = 5.0) -> None:
        """Flush, stop the writer and log drops not yet logged; later puts raise (``block``)
        or are dropped (``drop``). If the flush times out, TimeoutError is raised and the
        writer keeps trying."""
        with self._enqueue_lock, self._progress:
            self._closed = True
        try:
            self.flush(timeout)
            if self._thread is not None and self._thread.is_alive():
                self._queue.put(StopMarker(), timeout=timeout)
                self._thread.join(timeout)
        finally:
            self._report_drops(force=True)

    @property
    def _name(self) -> str:
        return self._what.removesuffix(" event") + " log"

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
        # The name is part of the format, so a record's args are the numbers alone.
        self._log.warning(
            f"{self._name}: dropped %d event(s) (%d in all); %d queued, queue full or log closed",
            unlogged, total, queued,
        )  # fmt: skip

    def _start_writer(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
            self._thread.start()
            atexit.register(_flush_at_exit, weakref.ref(self))

    def _run(self) -> None:
        while True:
            # A dropping writer wakes after a second idle, so pending drop warnings go out.
            batch, stop = next_batch(
                self._queue,
                batch_size=self._batch_size,
                window_s=self._batch_window_s,
                first_timeout=DROP_WARNING_INTERVAL_S if self._policy == "drop" else None,
            )
            if batch:
                self._write(batch)
            if self._policy == "drop":
                self._report_drops()  # drops rate-limited away in put() are logged here
            if stop:
                return

    def _write(self, batch: list[Row]) -> None:
        """Insert ``batch``, retrying with backoff: forever (``block``), or up to
        ``max_attempts`` and then drop it, loudly (``drop``)."""
        backoff = self._retry_backoff_s
        attempt = 0
        while True:
            attempt += 1
            try:
                self._insert(batch)
            except Exception as exc:  # noqa: BLE001 - any failure: retry, or count the loss
                with self._progress:
                    self._last_error = exc
                if self._policy == "block" or attempt < self._max_attempts:
                    of = "" if self._policy == "block" else f" (attempt {attempt} of "
                    of += "" if self._policy == "block" else f"{self._max_attempts})"
                    self._log.warning(
                        f"{self._name}: writing %d event(s) failed{of}, retrying in %.2fs: %s",
                        len(batch), backoff, exc,
                    )  # fmt: skip
                    time.sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff_s)
                    continue
                self._give_up(batch, exc)
                return
            with self._progress:
                self._written += len(batch)
                self._last_error = None
                self._progress.notify_all()
            return

    def _give_up(self, batch: list[Row], exc: BaseException) -> None:
        with self._progress:
            total = self._dropped + len(batch)
        # Logged before it is counted: whoever flush() releases has the error line.
        self._log.error(
            f"{self._name}: dropped %d event(s) after %d failed attempts (%d dropped in all): %s",
            len(batch), self._max_attempts, total, exc,
        )  # fmt: skip
        with self._progress:
            self._dropped += len(batch)
            self._dropped_logged += len(batch)
            self._failed_batches += 1
            self._progress.notify_all()


def _flush_at_exit(ref: weakref.ref[BatchWriter]) -> None:
    writer = ref()
    if writer is None:
        return
    try:
        writer.close(timeout=5.0)
    except TimeoutError as exc:
        writer._log.error(f"{writer._name}: events lost at exit: %s", exc)
