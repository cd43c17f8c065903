"""What the credit service keeps per scored row for monitoring: ratios and sector under
their schema names whichever spelling was sent, the answer, and the outcome keys."""

from __future__ import annotations

import datetime as dt

from pipelines.credit.schema import FEATURE_COLUMNS
from serving.credit_model_source import smoke_application
from serving.credit_monitoring import monitoring_rows


def test_given_both_spellings_when_kept_then_features_use_schema_names_and_dates_are_iso():
    by_alias = smoke_application().model_dump(by_alias=True) | {"Name": "Acme", "Date": "3/4/2015"}
    by_name = smoke_application().model_dump(by_alias=False)
    answers = [{"rating_band": "BBB", "score": 61.5}, {"rating_band": "A", "score": 77.0}]

    rows = monitoring_rows([by_alias, by_name], answers, today=dt.date(2026, 12, 1))

    assert [row["row_index"] for row in rows] == [0, 1]
    assert set(rows[0]["features"]) == set(FEATURE_COLUMNS)
    assert rows[0]["features"] == rows[1]["features"]
    assert rows[0]["features"]["currentRatio"] == by_alias["currentRatio"]
    assert (rows[0]["company"], rows[0]["rating_date"]) == ("Acme", "2015-03-04")
    assert (rows[1]["company"], rows[1]["rating_date"]) == (None, "2026-12-01")  # scored today
    assert [(r["prediction"], r["score"]) for r in rows] == [("BBB", 61.5), ("A", 77.0)]


def test_given_a_request_and_answer_that_do_not_pair_when_kept_then_nothing_is_guessed():
    assert monitoring_rows([{"a": 1}], []) == ()
    assert monitoring_rows(["not an object"], [{"rating_band": "A"}]) == ()
