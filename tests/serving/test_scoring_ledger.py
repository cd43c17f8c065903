"""ScoringLedger at the ASGI level: refusals before model work, request ids stamped into
each answer's lineage, and one prediction log event per scoring request."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from senim.platform_db.tables import PredictionLogRecord
from serving.prediction_log import PredictionEvent, PredictionLog
from serving.scoring_ledger import LedgerContext, ScoringLedger

SCORE = "/v1/credit/score"
BATCH = "/v1/credit/score_batch"
JSON = [(b"content-type", b"application/json")]


def _answer(band: str = "A", score: float = 81.5, decision: str = "approve") -> dict:
    """A CreditScore-shaped answer, as the scoring code returns it (request id unknown)."""
    return {
        "rating_band": band,
        "band_code": 4,
        "probabilities": {"A": 0.9, "BBB": 0.1},
        "score": score,
        "confidence": 0.9,
        "decision": decision,
        "reasons": [],
        "lineage": {"model_name": "credit-rating", "model_version": "3", "request_id": "-"},
    }


class FakeScoring:
    """An inner ASGI app: reads the body, then answers ``status`` with ``payload``.

    With ``receive_after_body`` it calls ``receive()`` once more after the body, as a
    streaming response listening for the client's disconnect does, and keeps the message.
    """

    def __init__(
        self, status: int = 200, payload: Any = None, *, receive_after_body: bool = False
    ) -> None:
        self.status = status
        self.payload = _answer() if payload is None else payload
        self.receive_after_body = receive_after_body
        self.bodies: list[bytes] = []
        self.after_body: list[dict] = []

    async def __call__(self, scope, receive, send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        self.bodies.append(body)
        if self.receive_after_body:
            self.after_body.append(await receive())
        raw = self.payload if isinstance(self.payload, bytes) else json.dumps(self.payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(raw)).encode()),
                    (b"x-served-by", b"fake"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": raw})


class FakeLog:
    """Collects prediction events instead of writing them."""

    def __init__(self) -> None:
        self.events: list[PredictionEvent] = []

    def record(self, event: PredictionEvent) -> bool:
        self.events.append(event)
        return True


def _context(log: Any, max_batch: int = 3) -> LedgerContext:
    return LedgerContext(
        prediction_log=log,
        max_batch=max_batch,
        model_name="credit-rating",
        model_version="3",
        data_version="d41d8cd9",
    )


class Sent:
    """What the ledger sent back, as status, headers and decoded body."""

    def __init__(self, messages: list[dict]) -> None:
        self.messages = messages
        start = next(m for m in messages if m["type"] == "http.response.start")
        self.status = start["status"]
        self.headers = [(k.lower(), v) for k, v in start.get("headers", [])]
        self.body = b"".join(m.get("body", b"") for m in messages if m["type"] != start["type"])

    def header(self, name: bytes) -> bytes:
        (value,) = [v for k, v in self.headers if k == name]
        return value

    def json(self) -> Any:
        return json.loads(self.body)


def _call(
    app: Any,
    body: Any = None,
    *,
    path: str = SCORE,
    method: str = "POST",
    headers: list[tuple[bytes, bytes]] = JSON,
    state: dict | None = None,
    chunks: list[bytes] | None = None,
    after: list[dict] = (),
) -> tuple[Sent, dict, list[int]]:
    """Run ``app`` on one request; returns what it sent, the scope and, per upstream
    ``receive()`` call, how many messages the upstream had handed out by then."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    parts = chunks if chunks is not None else [raw]
    upstream = [
        {"type": "http.request", "body": c, "more_body": i < len(parts) - 1}
        for i, c in enumerate(parts)
    ] + list(after)
    handed: list[int] = []
    sent: list[dict] = []

    async def receive() -> dict:
        handed.append(len(handed) + 1)
        return upstream.pop(0) if upstream else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": list(headers),
        "state": {"request_id": "req-42"} if state is None else state,
    }
    asyncio.run(app(scope, receive, send))
    return Sent(sent), scope, handed


def _application(n: int = 0) -> dict:
    return {"currentRatio": 1.5 + n, "Sector": "Energy"}


# --- what passes through ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", SCORE), ("POST", "/v1/models"), ("POST", "/auth/login"), ("GET", "/livez")],
)
def test_given_a_non_post_or_another_path_when_called_then_it_passes_through_untouched(
    method, path
):
    """Only POSTs under /v1/credit/ are scoring requests; the rest is not the ledger's."""
    inner, log = FakeScoring(payload=b"not json at all"), FakeLog()
    ledger = ScoringLedger(inner, lambda: _context(log))

    sent, _, _ = _call(ledger, b"{}", method=method, path=path, headers=[])

    assert sent.status == 200 and sent.body == b"not json at all"
    assert sent.header(b"x-served-by") == b"fake"
    assert inner.bodies == [b"{}"] and log.events == []


def test_given_a_websocket_scope_when_called_then_it_passes_through():
    """Non-HTTP scopes (websocket, lifespan) have no method: passed on before any check."""
    seen: list[dict] = []

    async def inner(scope, receive, send) -> None:
        seen.append(scope)

    ledger = ScoringLedger(inner, lambda: pytest.fail("context must not be asked"))
    scope = {"type": "websocket", "path": SCORE}

    asyncio.run(ledger(scope, None, None))

    assert seen == [scope]


# --- refusals before any model work -----------------------------------------------------


def test_given_no_context_yet_when_scoring_then_503_not_ready_and_the_app_never_runs():
    """While the model loads there is no prediction log or limit to apply: refuse politely."""
    inner = FakeScoring()
    ledger = ScoringLedger(inner, lambda: None)

    sent, _, _ = _call(ledger, _application())

    assert sent.status == 503
    assert sent.json()["error"] == "not_ready"
    assert inner.bodies == []


@pytest.mark.parametrize(
    "content_type", [None, b"text/plain", b"application/x-www-form-urlencoded"]
)
def test_given_a_non_json_content_type_when_scoring_then_415_and_the_app_never_runs(content_type):
    """Anything but JSON is refused before the body is read or a model is called."""
    inner, log = FakeScoring(), FakeLog()
    ledger = ScoringLedger(inner, lambda: _context(log))
    headers = [] if content_type is None else [(b"content-type", content_type)]

    sent, _, handed = _call(ledger, _application(), headers=headers)

    assert sent.status == 415
    assert sent.json()["error"] == "unsupported_media_type"
    assert inner.bodies == [] and handed == []
    (event,) = log.events
    assert event.status == "error" and event.error.startswith("HTTP 415")


def test_given_json_with_a_charset_when_scoring_then_it_is_accepted():
    """Content type parameters and case do not matter, only the media type."""
    inner, log = FakeScoring(), FakeLog()
    ledger = ScoringLedger(inner, lambda: _context(log))

    sent, _, _ = _call(
        ledger, _application(), headers=[(b"Content-Type", b"Application/JSON; charset=utf-8")]
    )

    assert sent.status == 200 and len(inner.bodies) == 1


def test_given_a_batch_over_max_batch_when_posted_then_400_naming_applications_and_the_limit():
    """The configured limit is enforced before the model sees a row, and the refusal logged."""
    inner, log = FakeScoring(), FakeLog()
    ledger = ScoringLedger(inner, lambda: _context(log, max_batch=3))
    batch = {"applications": [_application(n) for n in range(4)]}

    sent, _, _ = _call(ledger, batch, path=BATCH)

    assert sent.status == 400
    assert sent.json()["error"] == "invalid_request"
    (field,) = sent.json()["fields"]
    assert field["field"] == "applications"
    assert "at most 3" in field["problem"] and "got 4" in field["problem"]
    assert inner.bodies == []
    (event,) = log.events
    assert event.status == "error" and event.error.startswith("HTTP 400")
    assert event.inputs == batch["applications"] and event.outputs == []
    assert event.endpoint == BATCH


def test_given_a_batch_at_max_batch_when_posted_then_it_is_scored():
    """The limit is inclusive."""
    inner, log = FakeScoring(payload=[_answer(), _answer(), _answer()]), FakeLog()
    ledger = ScoringLedger(inner, lambda: _context(log, max_batch=3))

    sent, _, _ = _call(ledger, {"applications": [_application(n) for n in range(3)]}, path=BATCH)

    assert sent.status == 200 and len(inner.bodies) == 1
    assert log.events[0].status == "ok"


# --- answers: request id and content length ---------------------------------------------


def test_given_a_single_answer_when_scored_then_lineage_carries_the_scope_request_id():
    """The scoring code cannot know the request id; the ledger stamps it in."""
    inner, log = FakeScoring(), FakeLog()
    ledger = ScoringLedger(inner, lambda: _context(log))

    sent, _, _ = _call(ledger, _application(), state={"request_id": "abc-123"})

    answer = sent.json()
    assert sent.status == 200
    assert answer["lineage"]["request_id"] == "abc-123"
    assert {k: v for k, v in answer.items() if k != "lineage"} == {
        k: v for k, v in _answer().items() if k != "lineage"
    }
    assert int(sent.header(b"content-length")) == len(sent.body)
    assert sent.header(b"x-served-by") == b"fake"


def test_given_a_batch_answer_when_scored_then_every_answer_gets_the_request_id():
    """A batch answer is a list: each element is stamped, order kept."""
    answers = [_answer("A", 81.5), _answer("BB", 35.0, "reject")]
    inner, log = FakeScoring(payload=answers), FakeLog()
    ledger = ScoringLedger(inner, lambda: _context(log))
    batch = {"applications": [_application(0), _application(1)]}

    sent, _, _ = _call(ledger, batch, path=BATCH, state={"request_id": "batch-7"})

    body = sent.json()
    assert [a["lineage"]["request_id"] for a in body] == ["batch-7", "batch-7"]
    assert [a["rating_band"] for a in body] == ["A", "BB"]
    content_lengths = [v for k, v in sent.headers if k == b"content-length"]
    assert content_lengths == [str(len(sent.body)).encode()]
    assert inner.bodies == [json.dumps(batch).encode()]


def test_given_an_error_answer_when_passed_back_then_it_is_unchanged():
    """Only 200 answers are rewritten; an error body and its headers go out as they came."""
    problem = {"error": "validation", "detail": [{"loc": ["currentRatio"], "msg": "bad"}]}
    inner, log = FakeScoring(status=400, payload=problem), FakeLog()
    ledger = ScoringLedger(inner, lambda: _context(log))

    sent, _, _ = _call(ledger, _application())

    assert sent.status == 400 and sent.json() == problem
    assert int(sent.header(b"content-length")) == len(json.dumps(problem).encode())


def test_given_a_chunked_body_when_scored_then_the_app_gets_it_whole():
    """The ledger reads the body to count rows, then hands the app all of it at once."""
    inner, log = FakeScoring(), FakeLog()
    ledger = ScoringLedger(inner, lambda: _context(log))
    raw = json.dumps(_application()).encode()

    sent, _, _ = _call(ledger, chunks=[raw[:5], raw[5:12], raw[12:]])

    assert sent.status == 200 and inner.bodies == [raw]
    assert log.events[0].inputs == [_application()]


def test_given_the_app_listens_after_the_body_when_scored_then_it_gets_the_upstream_messages():
    """A streaming response waits on receive() for the client's disconnect: it must get
    the real connection's next message, not an early disconnect made up by the ledger."""
    inner, log = FakeScoring(receive_after_body=True), FakeLog()
    ledger = ScoringLedger(inner, lambda: _context(log))
    upstream_next = {"type": "http.disconnect", "from": "upstream"}

    sent, _, handed = _call(ledger, _application(), after=[upstream_next])

    assert sent.status == 200
    assert inner.after_body == [upstream_next]
    assert handed == [1, 2]  # the body, then one call passed through for the app


# --- the prediction log event ------------------------------------------------------------


def test_given_a_scored_request_when_logged_then_the_event_says_who_what_and_how_it_went():
    """One event per request with caller, endpoint, model, inputs and a per-row summary."""
    inner, log = FakeScoring(), FakeLog()
    ledger = ScoringLedger(inner, lambda: _context(log))
    principal = SimpleNamespace(label="key:ab12cd")

    _call(ledger, _application(), state={"request_id": "r-1", "principal": principal})

    (event,) = log.events
    assert event.caller == "key:ab12cd"
    assert event.endpoint == SCORE
    assert (event.model_name, event.model_version, event.data_version) == (
        "credit-rating",
        "3",
        "d41d8cd9",
    )
    assert event.inputs == [_application()]
    assert event.outputs == [{"rating_band": "A", "score": 81.5, "decision": "approve"}]
    assert event.status == "ok" and event.error is None
    assert event.request_id == "r-1"
    assert event.latency_ms >= 0


def test_given_no_principal_when_logged_then_the_caller_is_anonymous():
    """With auth switched off (benchmarks) nobody is in the scope: logged as anonymous."""
    inner, log = FakeScoring(), FakeLog()
    ledger = ScoringLedger(inner, lambda: _context(log))

    _call(ledger, _application(), state={"request_id": "r-2"})

    assert log.events[0].caller == "anonymous"


def test_given_a_batch_when_logged_then_rows_and_summaries_follow_the_applications():
    answers = [_answer("A", 81.5), _answer("BB", 35.0, "reject")]
    inner, log = FakeScoring(payload=answers), FakeLog()
    ledger = ScoringLedger(inner, lambda: _context(log))
    applications = [_application(0), _application(1)]

    _call(ledger, {"applications": applications}, path=BATCH)

    (event,) = log.events
    assert event.inputs == applications
    assert event.outputs == [
        {"rating_band": "A", "score": 81.5, "decision": "approve"},
        {"rating_band": "BB", "score": 35.0, "decision": "reject"},
    ]


def test_given_the_app_refuses_when_logged_then_the_event_is_an_error_with_the_http_status():
    """A refusal by the app (validation, 503 while loading) is logged with its body."""
    inner, log = FakeScoring(status=400, payload={"error": "bad currentRatio"}), FakeLog()
    ledger = ScoringLedger(inner, lambda: _context(log))

    _call(ledger, _application())

    (event,) = log.events
    assert event.status == "error" and event.outputs == []
    assert event.error.startswith("HTTP 400") and "bad currentRatio" in event.error


def test_given_a_huge_error_body_when_logged_then_the_error_text_is_truncated():
    """The log keeps a bounded excerpt of an error body, never all of it."""
    inner, log = FakeScoring(status=422, payload={"error": "x" * 5000}), FakeLog()
    ledger = ScoringLedger(inner, lambda: _context(log))

    _call(ledger, _application())

    error = log.events[0].error
    assert error.startswith("HTTP 422: ") and len(error) <= len("HTTP 422: ") + 500


@pytest.mark.parametrize("path", [SCORE, BATCH])
def test_given_a_body_that_is_not_json_when_posted_then_the_app_decides_and_it_is_logged(path):
    """Malformed JSON is the app's to refuse (with its usual error); the ledger still logs
    the request, with no inputs it could read."""
    inner, log = FakeScoring(status=400, payload={"error": "invalid json"}), FakeLog()
    ledger = ScoringLedger(inner, lambda: _context(log))

    sent, _, _ = _call(ledger, b"{not json", path=path)

    assert sent.status == 400 and inner.bodies == [b"{not json"]
    (event,) = log.events
    assert event.inputs == [] and event.status == "error"


def test_given_a_batch_without_an_applications_list_when_posted_then_inputs_are_empty():
    """A batch body of the wrong shape is logged with no inputs, and not counted as over."""
    inner, log = FakeScoring(status=400, payload={"error": "missing applications"}), FakeLog()
    ledger = ScoringLedger(inner, lambda: _context(log, max_batch=1))

    sent, _, _ = _call(ledger, {"applications": {"a": 1, "b": 2}}, path=BATCH)

    assert sent.status == 400 and len(inner.bodies) == 1
    assert log.events[0].inputs == []


def test_given_a_real_prediction_log_when_scored_then_one_row_per_request_is_written(tmp_path):
    """End to end into the prediction_log table: summary JSON, rows, status and request id."""
    prediction_log = PredictionLog.from_database_url(f"sqlite:///{tmp_path / 'p.db'}")
    answers = [_answer("A", 81.5), _answer("B", 22.25, "reject")]
    batch = {"applications": [_application(0), _application(1)]}
    try:
        ok = ScoringLedger(FakeScoring(payload=answers), lambda: _context(prediction_log))
        _call(ok, batch, path=BATCH, state={"request_id": "r-ok"})
        over = ScoringLedger(FakeScoring(), lambda: _context(prediction_log, max_batch=1))
        _call(over, batch, path=BATCH, state={"request_id": "r-over"})
        prediction_log.flush()
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'p.db'}")
        table = PredictionLogRecord.__table__
        with engine.connect() as connection:
            rows = connection.execute(sa.select(table).order_by(table.c.id)).mappings().all()
        engine.dispose()
    finally:
        prediction_log.close()

    assert [r["request_id"] for r in rows] == ["r-ok", "r-over"]
    assert [r["status"] for r in rows] == ["ok", "error"]
    assert [r["rows"] for r in rows] == [2, 2]
    assert [r["caller"] for r in rows] == ["anonymous", "anonymous"]
    assert json.loads(rows[0]["outputs"]) == [
        {"decision": "approve", "rating_band": "A", "score": 81.5},
        {"decision": "reject", "rating_band": "B", "score": 22.25},
    ]
    assert rows[0]["error"] is None and rows[1]["error"].startswith("HTTP 400")
    assert rows[0]["inputs"] is None  # hashed only, unless store_inputs
    assert rows[0]["endpoint"] == BATCH and rows[0]["model_version"] == "3"


# --- swaps and shadows --------------------------------------------------------------------


def test_given_a_swap_between_start_and_scoring_when_logged_then_the_answering_version_is_kept():
    """The context was read when the request came in (version 3); version 4 answered."""
    answer = _answer()
    answer["lineage"]["model_version"] = "4"
    inner, log = FakeScoring(payload=answer), FakeLog()
    ledger = ScoringLedger(inner, lambda: _context(log))

    _call(ledger, _application())

    (event,) = log.events
    assert event.model_version == "4"


def test_given_a_shadow_when_a_request_is_answered_then_the_shadow_gets_it_after_the_answer():
    from unittest.mock import Mock

    inner, log, shadow = FakeScoring(), FakeLog(), Mock(name="shadow")
    context = LedgerContext(log, 3, "credit-rating", "3", "d", shadow=shadow)
    ledger = ScoringLedger(inner, lambda: context)
    principal = SimpleNamespace(label="key:ab12cd")

    sent, _, _ = _call(ledger, _application(), state={"request_id": "r-9", "principal": principal})

    assert sent.status == 200
    shadow.submit.assert_called_once_with(SCORE, "r-9", "key:ab12cd", [_application()])


def test_given_a_shadow_when_a_request_is_refused_then_the_shadow_never_sees_it():
    from unittest.mock import Mock

    shadow = Mock(name="shadow")
    context = LedgerContext(FakeLog(), 3, "credit-rating", "3", "d", shadow=shadow)
    ledger = ScoringLedger(FakeScoring(status=422, payload={"error": "x"}), lambda: context)

    sent, _, _ = _call(ledger, _application())

    assert sent.status == 422
    shadow.submit.assert_not_called()
