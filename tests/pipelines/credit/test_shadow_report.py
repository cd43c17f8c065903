"""The shadow report pairs a challenger's logged answers with the live ones by request
id and says how often bands and decisions agree, where bands move and what it costs."""

from __future__ import annotations

import json
from unittest.mock import Mock

import pytest

from pipelines.credit.shadow_report import (
    TAG_SHADOW_AGREEMENT,
    TAG_SHADOW_PATH,
    TAG_SHADOW_SHA,
    attach_to_challenger,
    build_shadow_report,
)
from senim.errors import DataError
from senim.platform_db.engine import make_engine
from serving.prediction_log import PredictionEvent, PredictionLog


def _event(request_id, role, version, answers, status="ok", latency=2.0, error=None):
    return PredictionEvent(
        caller="key:abc",
        endpoint="/v1/credit/score_batch",
        model_name="credit-rating",
        model_version=version,
        inputs=[{"row": i} for i in range(len(answers) or 1)],
        outputs=[{"rating_band": b, "score": s, "decision": d} for b, s, d in answers],
        latency_ms=latency,
        status=status,
        error=error,
        request_id=request_id,
        role=role,
    )


@pytest.fixture()
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'senim.db'}"


def _log(database_url, events) -> None:
    log = PredictionLog.from_database_url(database_url)
    try:
        for event in events:
            assert log.record(event)
        log.flush(10)
    finally:
        log.close()


def test_given_shadowed_traffic_when_reported_then_agreement_shift_and_scores_are_counted(
    database_url,
):
    _log(
        database_url,
        [
            _event("r1", "live", "3", [("A", 80.0, "approve"), ("BB", 40.0, "reject")], latency=1),
            _event(
                "r1", "shadow", "4", [("A", 82.0, "approve"), ("BBB", 55.0, "review")], latency=5
            ),
            _event("r2", "live", "3", [("Junk", 5.0, "reject")], latency=3),
            _event("r2", "shadow", "4", [("B", 20.0, "reject")], latency=7),
            _event("r3", "live", "3", [("A", 80.0, "approve")]),
            _event("r3", "shadow", "4", [], status="error", error="shadow: ValueError: boom"),
            _event("r4", "shadow", "4", [("A", 80.0, "approve")]),  # its live row is missing
        ],
    )
    engine = make_engine(database_url)
    try:
        report = build_shadow_report(engine, "credit-rating", "4")
    finally:
        engine.dispose()

    assert report.requests == 4
    assert (report.rows, report.shadow_errors, report.unpaired) == (3, 1, 1)
    assert report.band_agreement == pytest.approx(1 / 3)
    assert report.decision_agreement == pytest.approx(2 / 3)
    assert report.within_one_band == pytest.approx(1.0)
    assert report.band_shift == {"A": {"A": 1}, "BB": {"BBB": 1}, "Junk": {"B": 1}}
    assert report.score_difference["max_abs"] == pytest.approx(15.0)
    assert report.score_difference["mean"] == pytest.approx((2 + 15 + 15) / 3)
    assert report.live_versions == ["3"]
    assert report.latency_ms["live"]["p50"] == pytest.approx(2.0)
    assert report.errors == ["shadow: ValueError: boom"]
    markdown = report.markdown()
    assert "| band agreement | 0.3333 |" in markdown
    assert "| BB | 0 | 0 | 1 | 0 | 0 | 0 |" in markdown  # live BB -> shadow BBB


def test_given_no_shadow_answers_when_reported_then_a_data_error_says_what_to_do(database_url):
    _log(database_url, [_event("r1", "live", "3", [("A", 80.0, "approve")])])
    engine = make_engine(database_url)
    try:
        with pytest.raises(DataError, match="senim deploy credit --shadow"):
            build_shadow_report(engine, "credit-rating", "4")
    finally:
        engine.dispose()


def test_given_a_report_when_attached_then_it_is_logged_on_the_challenger_run_and_tagged(
    database_url, tmp_path
):
    _log(
        database_url,
        [
            _event("r1", "live", "3", [("A", 80.0, "approve")]),
            _event("r1", "shadow", "4", [("A", 81.0, "approve")]),
        ],
    )
    engine = make_engine(database_url)
    try:
        report = build_shadow_report(engine, "credit-rating", "4")
    finally:
        engine.dispose()
    client = Mock(name="mlflow_client")
    client.get_model_version.return_value = Mock(run_id="run-4")

    tags = attach_to_challenger(client, report, tmp_path / "out")

    logged = [call.args for call in client.log_artifact.call_args_list]
    assert [(run, path.rsplit("/", 1)[1]) for run, path in logged] == [
        ("run-4", "shadow-report.json"),
        ("run-4", "shadow-report.md"),
    ]
    assert tags[TAG_SHADOW_PATH] == "evidence/shadow-report.json"
    assert tags[TAG_SHADOW_AGREEMENT] == "1.0000"
    assert len(tags[TAG_SHADOW_SHA]) == 64
    assert json.loads((tmp_path / "out" / "shadow-report.json").read_text())["rows"] == 1
    client.set_model_version_tag.assert_any_call(
        "credit-rating", "4", TAG_SHADOW_AGREEMENT, "1.0000"
    )
