"""ShadowScorer: the challenger scores answered requests on its own thread and logs them
as shadow rows; a failing or slow shadow is recorded or dropped, never raised."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from unittest.mock import Mock

from serving.credit_shadow import ShadowScorer
from serving.served_model import ServedModelCard


def valid_application() -> dict:
    from serving.credit_model_source import smoke_application

    return smoke_application().model_dump(by_alias=True)


CARD = ServedModelCard(
    model_name="credit-rating",
    model_version="7",
    bento_tag="credit-rating:mlflow-v7",
    alias="challenger",
    run_id=None,
    data_version="d7",
    git_commit=None,
    metrics={},
)


class FakeScorer:
    def __init__(self, fail: bool = False, gate: threading.Event | None = None) -> None:
        self.card = CARD
        self.fail = fail
        self.gate = gate

    def score(self, applications):
        if self.gate is not None:
            self.gate.wait(5)
        if self.fail:
            raise ValueError("the challenger cannot read Sector\nstack")
        return [SimpleNamespace(rating_band="BBB", score=61.5, decision="review")] * len(
            applications
        )


def test_given_answered_requests_when_shadowed_then_each_is_a_shadow_row_with_its_request_id():
    log = Mock(name="prediction_log")
    shadow = ShadowScorer(FakeScorer(), log, max_queued=10)
    try:
        assert shadow.submit("/v1/credit/score", "req-1", "key:abc", [valid_application()])
        assert shadow.drain(5)
    finally:
        shadow.close()

    (event,) = [call.args[0] for call in log.record.call_args_list]
    assert event.role == "shadow"
    assert event.request_id == "req-1"
    assert event.model_version == "7"
    assert event.status == "ok"
    assert event.outputs == [{"rating_band": "BBB", "score": 61.5, "decision": "review"}]
    assert shadow.stats()["scored"] == 1


def test_given_a_shadow_that_throws_when_shadowed_then_an_error_row_says_why():
    log = Mock(name="prediction_log")
    shadow = ShadowScorer(FakeScorer(fail=True), log, max_queued=10)
    try:
        shadow.submit("/v1/credit/score", "req-2", "key:abc", [valid_application()])
        assert shadow.drain(5)
    finally:
        shadow.close()

    event = log.record.call_args.args[0]
    assert event.status == "error"
    assert event.error == "shadow: ValueError: the challenger cannot read Sector"
    assert shadow.stats()["failed"] == 1


def test_given_a_slow_shadow_when_its_queue_is_full_then_requests_are_dropped_not_waited_on():
    gate = threading.Event()
    shadow = ShadowScorer(FakeScorer(gate=gate), Mock(name="log"), max_queued=1)
    try:
        accepted = [
            shadow.submit("/v1/credit/score", f"r{i}", "k", [valid_application()]) for i in range(5)
        ]
        assert accepted.count(False) >= 3  # one scoring, one queued, the rest dropped
        assert shadow.stats()["dropped"] == accepted.count(False)
    finally:
        gate.set()
        shadow.close()


def test_given_a_closed_shadow_when_submitted_then_it_is_refused():
    shadow = ShadowScorer(FakeScorer(), Mock(name="log"), max_queued=1)
    shadow.close()

    assert shadow.submit("/v1/credit/score", "r", "k", [valid_application()]) is False
