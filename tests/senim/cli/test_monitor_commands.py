"""``senim credit outcomes`` and ``senim monitor`` as a user meets them on bad input:
one line naming every problem, a non-zero exit, nothing attached."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from tests.senim.cli.cli_runner import run_senim


def _logged_prediction(request_id: str) -> None:
    from senim.environment import resolve_stores
    from serving.prediction_log import PredictionEvent, PredictionLog

    log = PredictionLog.from_database_url(resolve_stores().database_url)
    log.record(
        PredictionEvent(
            caller="key:abc", endpoint="/v1/credit/score", model_name="credit-rating",
            model_version="1", inputs=[{}], outputs=[{"rating_band": "BBB"}], latency_ms=1.0,
            request_id=request_id, at=datetime.now(UTC), monitoring_family="credit",
            monitoring=({"features": {"currentRatio": 1.2}, "prediction": "BBB", "score": 55.0},),
        )
    )  # fmt: skip
    log.close()


def _attached() -> list[tuple[str, str | None]]:
    from senim.environment import resolve_stores
    from senim.platform_db.engine import make_engine

    engine = make_engine(resolve_stores().database_url)
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT request_id, outcome FROM monitoring_rows"))
        found = [tuple(row) for row in rows]
    engine.dispose()
    return found


def test_given_an_unknown_id_a_bad_label_and_a_duplicate_when_ingested_then_nothing_attaches(
    senim_home, tmp_path, capsys
):
    _logged_prediction("req-1")
    bad = tmp_path / "bad.csv"
    bad.write_text("request_id,Rating\nreq-1,BBB\nno-such,A\nreq-1,BBB\nreq-1,QQ\n")

    code, out, err = run_senim(["credit", "outcomes", "--input", str(bad)], capsys)

    assert code == 3, (out, err)
    assert err.count("\n") == 1, err  # one line
    assert "row 3: request_id: no logged credit prediction for request id 'no-such'" in err
    assert "row 4: request_id: duplicate of row 2" in err
    assert "row 5: Rating: unknown rating label 'QQ'" in err
    assert _attached() == [("req-1", None)]

    good = tmp_path / "good.csv"
    good.write_text("request_id,Rating\nreq-1,BBB-\n")
    code, out, err = run_senim(["credit", "outcomes", "--input", str(good)], capsys)
    assert code == 0, err
    assert "1 outcomes from" in out and "1 predictions received their realised band" in out
    assert _attached() == [("req-1", "BBB")]


def test_given_no_deployment_or_no_report_when_monitoring_then_it_says_what_to_run(
    senim_home, capsys
):
    code, _, err = run_senim(["monitor", "run", "credit"], capsys)
    assert code == 5 and "no credit model is deployed" in err and "senim deploy credit" in err
    code, _, err = run_senim(["monitor", "report", "emotion"], capsys)
    assert code == 3 and "no emotion monitoring report yet: `senim monitor run emotion`" in err


def test_given_a_retraining_in_flight_when_one_is_started_by_hand_then_refused_at_once(
    senim_home, capsys
):
    from pipelines.release.monitoring_store import (
        close_monitoring,
        open_monitoring,
        retraining_lease,
    )
    from senim.environment import resolve_stores

    sessions = open_monitoring(resolve_stores().database_url)
    try:
        with retraining_lease(sessions, "credit", "monitor-credit nightly", "drift", 60):
            code, _, err = run_senim(["credit", "train"], capsys)
    finally:
        close_monitoring(sessions)

    assert code == 6, err
    assert "a credit retraining is already in flight (monitor-credit nightly, since" in err


def test_given_drift_out_of_range_when_generating_then_one_line_naming_the_options(
    senim_home, tmp_path, capsys
):
    out_file = tmp_path / "drifted.csv"
    code, _, err = run_senim(
        ["credit", "generate", "--output", str(out_file), "--drift", "5", "--companies", "3"],
        capsys,
    )
    assert code == 2 and err.count("\n") == 1, err
    assert "--companies: Input should be greater than or equal to 12" in err
    assert "--drift: Input should be less than or equal to 2" in err
    assert not out_file.exists()

    code, out, err = run_senim(
        ["credit", "generate", "--output", str(out_file), "--drift", "1", "--companies", "20"],
        capsys,
    )
    assert code == 0, err
    assert out_file.is_file()
