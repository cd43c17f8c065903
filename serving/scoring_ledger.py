"""ASGI middleware around the scoring routes: what one HTTP request adds to the scores.

For every ``POST`` under ``/v1/credit/`` it

- refuses a body that is not JSON (415) and a batch over ``scoring.max_batch`` (400,
  naming ``applications``), before any model work;
- stamps the request id into each answer's lineage (the scoring code cannot know it:
  adaptive batching merges several requests' rows into one model call);
- writes one prediction log event per request, answered or refused, with caller,
  inputs (hashed, or stored per config), a per-row summary, model version and latency.

The prediction log only enqueues, so the response never waits on the database.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from auth.asgi import ASGIApp, Receive, Scope, Send, header, send_json
from serving.credit_monitoring import MONITORED_FAMILY, monitoring_rows
from serving.credit_shadow import SUMMARY_FIELDS, ShadowScorer
from serving.prediction_log import PredictionEvent, PredictionLog

logger = logging.getLogger(__name__)

BATCH_SUFFIX = "/score_batch"
# Not a scoring request: realised ratings (``serving.credit_outcomes``), never logged here.
OUTCOMES_SUFFIX = "/outcomes"
_MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class LedgerContext:
    """What the ledger needs from a loaded service."""

    prediction_log: PredictionLog
    max_batch: int
    model_name: str
    model_version: str
    data_version: str | None
    shadow: ShadowScorer | None = None  # a challenger scoring the same requests, unanswered
    keep_features: bool = False  # monitoring.keep_credit_features: ratios and sector per row


class ScoringLedger:
    def __init__(
        self,
        app: ASGIApp,
        context: Callable[[], LedgerContext | None],
        prefix: str = "/v1/credit/",
    ) -> None:
        self.app = app
        self.context = context
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].startswith(self.prefix)
            or scope["path"].endswith(OUTCOMES_SUFFIX)
        ):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        context = self.context()
        if context is None:
            await send_json(
                send, 503, {"error": "not_ready", "message": "the model is still loading"}
            )
            return
        state = scope.setdefault("state", {})
        content_type = header(scope, b"content-type").split(";")[0].strip().lower()
        if content_type != "application/json":
            refusal = {
                "error": "unsupported_media_type",
                "message": f"send application/json, not {content_type or 'no content type'}",
            }
            await send_json(send, 415, refusal)
            self._record(context, scope, [], [], started, 415, json.dumps(refusal))
            return
        body = await _read_body(receive)
        inputs = _applications(body, scope["path"])
        if scope["path"].endswith(BATCH_SUFFIX) and len(inputs) > context.max_batch:
            refusal = _too_many(len(inputs), context.max_batch)
            await send_json(send, 400, refusal)
            self._record(context, scope, inputs, [], started, 400, json.dumps(refusal))
            return
        status, headers, payload = await _call(self.app, scope, body, receive)
        outputs: list[dict[str, Any]] = []
        answered_by = None
        error = None if status == 200 else payload.decode("utf-8", "replace")
        if status == 200:
            try:
                payload, outputs, answered_by = _stamped(payload, state.get("request_id", ""))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                # Never expected from the scoring routes; sent as it came, logged as wrong.
                logger.error("scoring answer without a stampable lineage: %s", exc)
                error = f"answer without lineage: {exc}"
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
        self._record(context, scope, inputs, outputs, started, status, error, answered_by)
        if context.shadow is not None and status == 200 and error is None:
            context.shadow.submit(scope["path"], state.get("request_id"), _caller(scope), inputs)

    def _record(
        self,
        context: LedgerContext,
        scope: Scope,
        inputs: list[Any],
        outputs: list[dict[str, Any]],
        started: float,
        status: int,
        error: str | None,
        answered_by: str | None = None,
    ) -> None:
        record_scoring(
            context,
            caller=_caller(scope),
            endpoint=scope["path"],
            inputs=inputs,
            outputs=outputs,
            latency_ms=(time.perf_counter() - started) * 1000,
            request_id=scope.get("state", {}).get("request_id"),
            error=(
                None
                if status == 200 and error is None
                else f"HTTP {status}: {(error or '')[:_MAX_ERROR_CHARS]}"
            ),
            answered_by=answered_by,
        )


def record_scoring(
    context: LedgerContext,
    *,
    caller: str,
    endpoint: str,
    inputs: list[Any],
    outputs: list[dict[str, Any]],
    latency_ms: float,
    request_id: str | None,
    error: str | None = None,
    answered_by: str | None = None,
) -> None:
    """One prediction log event (and its monitoring rows) for a scoring request, from the
    API (this middleware) or the web pages (``serving.web.officer``)."""
    answered = error is None
    kept = monitoring_rows(inputs, outputs) if answered and context.keep_features else ()
    context.prediction_log.record(
        PredictionEvent(
            caller=caller,
            endpoint=endpoint,
            model_name=context.model_name,
            # The version in the answer: a swap between the request's start and its
            # scoring means the new model answered, and the log says so.
            model_version=answered_by or context.model_version,
            data_version=context.data_version,
            inputs=inputs,
            outputs=outputs,
            latency_ms=latency_ms,
            status="ok" if answered else "error",
            error=error,
            request_id=request_id,
            monitoring_family=MONITORED_FAMILY if kept else None,
            monitoring=kept,
        )
    )


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _applications(body: bytes, path: str) -> list[Any]:
    """The submitted applications as sent, for the log; [] when the body is not JSON."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return []
    if path.endswith(BATCH_SUFFIX):
        found = parsed.get("applications") if isinstance(parsed, dict) else None
        return found if isinstance(found, list) else []
    return [parsed]


def _too_many(count: int, limit: int) -> dict[str, Any]:
    problem = f"at most {limit} applications per request (scoring.max_batch), got {count}"
    return {
        "error": "invalid_request",
        "message": f"the request is invalid: applications ({problem})",
        "fields": [{"field": "applications", "problem": problem}],
    }


async def _call(
    app: ASGIApp, scope: Scope, body: bytes, upstream: Receive
) -> tuple[int, list, bytes]:
    """Run ``app`` on ``body`` and collect its whole response.

    After the body, ``receive`` waits on the real connection: a streaming response
    listens for the client's disconnect there and must not be told of one too early.
    """
    sent = False
    status, headers, chunks = 500, [], []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await upstream()

    async def collect(message: dict[str, Any]) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status, headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, collect)
    return status, headers, b"".join(chunks)


def _caller(scope: Scope) -> str:
    principal = scope.get("state", {}).get("principal")
    return getattr(principal, "label", "anonymous")


def _stamped(payload: bytes, request_id: str) -> tuple[bytes, list[dict[str, Any]], str | None]:
    """The response with ``lineage.request_id`` set on every answer, its summary and the
    model version that answered."""
    answer = json.loads(payload)
    answers = answer if isinstance(answer, list) else [answer]
    for one in answers:
        one["lineage"]["request_id"] = request_id
    summary = [{key: one[key] for key in SUMMARY_FIELDS} for one in answers]
    version = answers[0]["lineage"].get("model_version") if answers else None
    return json.dumps(answer, separators=(",", ":")).encode(), summary, version
