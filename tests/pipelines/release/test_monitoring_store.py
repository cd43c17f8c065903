"""The monitoring rows: written beside prediction events, read by window, pruned by age;
outcomes attached all or nothing; one retraining lease per family."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from pipelines.release.monitoring_store import (
    Outcome,
    OutcomesRejected,
    RetrainingInFlight,
    attach_outcomes,
    close_monitoring,
    open_monitoring,
    prune,
    retraining_lease,
    window_rows,
)
from serving.prediction_log import PredictionEvent, PredictionLog

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@pytest.fixture()
def sessions(tmp_path):
    made = open_monitoring(f"sqlite:///{tmp_path / 'platform.db'}")
    yield made
    close_monitoring(made)


def _log(sessions, request_id: str, at: datetime, rows: list[tuple[str, str, str | None]]):
    """One credit prediction event with a monitoring row per (band, company, date)."""
    log = PredictionLog(sessions.kw["bind"])
    log.record(
        PredictionEvent(
            caller="key:abc",
            endpoint="/v1/credit/score_batch",
            model_name="credit-rating",
            model_version="3",
            inputs=[{} for _ in rows],
            outputs=[{"rating_band": band} for band, _, _ in rows],
            latency_ms=1.0,
            request_id=request_id,
            at=at,
            monitoring_family="credit",
            monitoring=tuple(
                {
                    "row_index": i,
                    "features": {"currentRatio": 1.0 + i, "Sector": "Energy"},
                    "prediction": band,
                    "score": 50.0,
                    "company": company,
                    "rating_date": date,
                }
                for i, (band, company, date) in enumerate(rows)
            ),
        )
    )
    log.close()


def _outcomes(sessions) -> list[tuple[str, int, str | None]]:
    with sessions() as session:
        rows = session.execute(
            sa.text("SELECT request_id, row_index, outcome FROM monitoring_rows ORDER BY id")
        ).all()
    return [tuple(row) for row in rows]


def test_given_logged_events_when_a_window_is_read_then_only_its_rows_come_with_features(
    sessions,
):
    _log(sessions, "old", T0 - timedelta(days=2), [("BBB", "Acme", "2026-10-30")])
    _log(sessions, "new", T0, [("A", "Acme", "2026-11-01"), ("BB", "Orion", "2026-11-01")])

    rows = window_rows(sessions, "credit", T0 - timedelta(hours=1))

    assert list(rows["request_id"]) == ["new", "new"]
    assert list(rows["row_index"]) == [0, 1]
    assert list(rows["currentRatio"]) == [1.0, 2.0]
    assert list(rows["prediction"]) == ["A", "BB"]
    assert window_rows(sessions, "emotion", T0 - timedelta(days=9)).empty


def test_given_rows_past_retention_when_pruned_then_only_they_go(sessions):
    _log(sessions, "old", T0 - timedelta(days=91), [("B", None, None)])
    _log(sessions, "kept", T0 - timedelta(days=89), [("B", None, None)])

    assert prune(sessions, "emotion", 90, T0) == 0  # another family's rows stay
    assert prune(sessions, "credit", 90, T0) == 1

    assert [r for r, _, _ in _outcomes(sessions)] == ["kept"]


def test_given_outcomes_by_request_and_by_company_when_attached_then_each_row_gets_its_band(
    sessions,
):
    _log(sessions, "req-1", T0, [("A", "Acme", "2026-11-01"), ("BB", "Orion", "2026-11-01")])
    outcomes = [
        Outcome(line="row 2", label="BBB", request_id="req-1", row_index=0),
        Outcome(line="row 3", label="BB", company="Orion", rating_date="2026-11-01"),
    ]

    result = attach_outcomes(sessions, "credit", outcomes, by="cli:test", origin="f.csv")

    assert (result.attached, result.unchanged) == (2, 0)
    assert _outcomes(sessions) == [("req-1", 0, "BBB"), ("req-1", 1, "BB")]
    again = attach_outcomes(sessions, "credit", outcomes, by="cli:test", origin="f.csv")
    assert (again.attached, again.unchanged) == (0, 2)  # the same outcome twice: no change


def test_given_an_unknown_id_a_duplicate_and_a_conflict_when_attached_then_none_is_written(
    sessions,
):
    _log(sessions, "req-1", T0, [("A", None, None), ("BB", None, None)])
    attach_outcomes(
        sessions, "credit", [Outcome("row 2", "A", request_id="req-1", row_index=1)],
        by="x", origin="first",
    )  # fmt: skip
    bad = [
        Outcome(line="row 2", label="BBB", request_id="req-1"),
        Outcome(line="row 3", label="B", request_id="no-such-request"),
        Outcome(line="row 4", label="BBB", request_id="req-1"),
        Outcome(line="row 5", label="Junk", request_id="req-1", row_index=1),
    ]

    with pytest.raises(OutcomesRejected) as refused:
        attach_outcomes(sessions, "credit", bad, by="x", origin="second.csv")

    problems = {(where, field) for where, field, _ in refused.value.problems}
    assert problems == {("row 3", "request_id"), ("row 4", "request_id"), ("row 5", "outcome")}
    message = str(refused.value)
    assert message.startswith("second.csv: no outcome attached")
    assert "no logged credit prediction for request id 'no-such-request'" in message
    assert "duplicate of row 2" in message
    assert "already has outcome 'A', not 'Junk'" in message
    assert _outcomes(sessions) == [("req-1", 0, None), ("req-1", 1, "A")]  # nothing written
    replaced = attach_outcomes(sessions, "credit", [bad[3]], by="x", origin="third", replace=True)
    assert replaced.attached == 1
    assert _outcomes(sessions)[1] == ("req-1", 1, "Junk")


def test_given_one_prediction_named_by_id_and_by_company_with_two_labels_then_refused(sessions):
    _log(sessions, "req-1", T0, [("A", "Acme", "2026-11-01")])
    both = [
        Outcome(line="row 2", label="BBB", request_id="req-1"),
        Outcome(line="row 3", label="BB", company="Acme", rating_date="2026-11-01"),
    ]

    with pytest.raises(
        OutcomesRejected, match="row 3: outcome: names the same prediction as row 2"
    ):
        attach_outcomes(sessions, "credit", both, by="x", origin="f.csv")

    assert _outcomes(sessions) == [("req-1", 0, None)]


def _holders(sessions) -> dict[str, str]:
    with sessions() as session:
        rows = session.execute(sa.text("SELECT family, holder FROM retraining_leases")).all()
    return dict(rows)


def test_given_a_held_lease_when_another_run_asks_then_it_is_refused_until_released(sessions):
    with retraining_lease(sessions, "credit", "run A", "drift", minutes=60):
        with pytest.raises(RetrainingInFlight, match=r"already in flight \(run A, since"):
            with retraining_lease(sessions, "credit", "run B", "drift", minutes=60):
                pytest.fail("a second credit lease was granted")
        with retraining_lease(sessions, "emotion", "run C", "drift", minutes=60):
            # another family's lease is its own
            assert _holders(sessions) == {"credit": "run A", "emotion": "run C"}
    assert _holders(sessions) == {}
    with retraining_lease(sessions, "credit", "run B", "drift", minutes=60):
        assert _holders(sessions) == {"credit": "run B"}


def test_given_an_expired_lease_when_another_run_asks_then_it_takes_over(sessions):
    with sessions.begin() as session:
        session.execute(
            sa.text(
                "INSERT INTO retraining_leases (family, holder, reason, acquired_at, expires_at)"
                " VALUES ('credit', 'crashed', 'drift', :a, :e)"
            ),
            {"a": "2026-01-01 00:00:00", "e": "2026-01-01 04:00:00"},
        )
    with retraining_lease(sessions, "credit", "run B", "drift", minutes=60):
        with sessions() as session:
            holder = session.execute(sa.text("SELECT holder FROM retraining_leases")).scalar()
        assert holder == "run B"


def test_given_a_lease_held_past_its_length_then_its_holder_keeps_renewing_it(sessions):
    import time

    with retraining_lease(sessions, "credit", "long run", "drift", minutes=0.02):  # 1.2 s
        time.sleep(2.5)
        with pytest.raises(RetrainingInFlight):
            with retraining_lease(sessions, "credit", "run B", "drift", minutes=60):
                pytest.fail("the renewed lease was taken over")
        assert _holders(sessions) == {"credit": "long run"}
