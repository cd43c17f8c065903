"""A challenger scoring live credit traffic off the request path (shadow mode).

The live answer is sent first; the applications of every successful scoring request are
then queued here, and one background thread scores them with the shadow model and
writes its answers to the prediction log (``role = shadow``, same request id). A shadow
that is slow, throws or falls behind never touches a live answer: a full queue drops the
request (counted), an error becomes an ``error`` row with its reason.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

from serving.credit_scoring import CreditScorer
from serving.prediction_log import PredictionEvent, PredictionLog

logger = logging.getLogger(__name__)

SUMMARY_FIELDS = ("rating_band", "score", "decision")
_MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class _Request:
    endpoint: str
    request_id: str | None
    caller: str
    inputs: list[Any]


class ShadowScorer:
    """Scores queued live requests with ``scorer``; see the module docstring."""

    def __init__(self, scorer: CreditScorer, prediction_log: PredictionLog, max_queued: int):
        self.scorer = scorer
        self._log = prediction_log
        self._queue: queue.Queue[_Request | None] = queue.Queue(maxsize=max_queued)
        self._lock = threading.Lock()
        self._counts = {"scored": 0, "failed": 0, "dropped": 0}
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="credit-shadow", daemon=True)
        self._thread.start()

    @property
    def tag(self) -> str:
        return self.scorer.card.bento_tag

    def submit(self, endpoint: str, request_id: str | None, caller: str, inputs: list[Any]) -> bool:
        """Queue one answered request without blocking; False if it was dropped."""
        if self._closed:
            return False
        try:
            self._queue.put_nowait(_Request(endpoint, request_id, caller, list(inputs)))
        except queue.Full:
            with self._lock:
                self._counts["dropped"] += 1
                dropped = self._counts["dropped"]
            if dropped == 1 or dropped % 1000 == 0:
                logger.warning("shadow %s is behind: %d requests dropped so far", self.tag, dropped)
            return False
        return True

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {**self._counts, "queued": self._queue.qsize()}

    def drain(self, timeout: float = 10.0) -> bool:
        """For tests and shutdown: wait until everything queued is scored (True)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def close(self, timeout: float = 10.0) -> None:
        """Score what is queued (up to ``timeout``), then stop the thread."""
        self._closed = True
        self.drain(timeout)
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            request = self._queue.get()
            try:
                if request is None:
                    return
                self._score(request)
            finally:
                self._queue.task_done()

    def _score(self, request: _Request) -> None:
        from serving.credit_schemas import CreditApplication

        started = time.perf_counter()
        outputs: list[dict[str, Any]] = []
        error = None
        try:
            applications = [CreditApplication.model_validate(row) for row in request.inputs]
            for answer in self.scorer.score(applications):
                outputs.append({key: getattr(answer, key) for key in SUMMARY_FIELDS})
        except Exception as exc:  # noqa: BLE001 - a failing shadow is recorded, never raised
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            outputs = []
        card = self.scorer.card
        with self._lock:
            self._counts["failed" if error else "scored"] += 1
        self._log.record(
            PredictionEvent(
                caller=request.caller,
                endpoint=request.endpoint,
                model_name=card.model_name,
                model_version=card.model_version,
                data_version=card.data_version,
                inputs=request.inputs,
                outputs=outputs,
                latency_ms=(time.perf_counter() - started) * 1000,
                status="error" if error else "ok",
                error=None if error is None else f"shadow: {error[:_MAX_ERROR_CHARS]}",
                request_id=request.request_id,
                role="shadow",
            )
        )
