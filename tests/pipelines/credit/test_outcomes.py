"""Realised ratings read from a CSV file (``senim credit outcomes``) or JSON objects:
each bad row and field named, nothing guessed."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.credit.outcomes import parse_outcomes, read_outcomes_csv
from pipelines.release.monitoring_store import Outcome, OutcomesRejected
from senim.errors import DataError


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "outcomes.csv"
    path.write_text(text)
    return path


def test_given_request_ids_and_company_dates_when_read_then_each_becomes_an_outcome(tmp_path):
    path = _csv(
        tmp_path,
        "request_id,row,Name,Date,Rating,band\n"
        "req-1,,,,BBB-,\n"
        "req-2,3,,,,Junk\n"
        ",,Acme Corp.,3/14/2015,AA+,\n",
    )

    outcomes = read_outcomes_csv(path)

    assert outcomes == [
        Outcome(line="row 2", label="BBB", request_id="req-1", row_index=0),
        Outcome(line="row 3", label="Junk", request_id="req-2", row_index=3),
        Outcome(line="row 4", label="A+", company="Acme Corp.", rating_date="2015-03-14"),
    ]


def test_given_bad_rows_when_read_then_every_row_and_field_is_named(tmp_path):
    path = _csv(
        tmp_path,
        "request_id,row,Name,Date,Rating,band\n"
        "req-1,,,,ZZZ,\n"  # unknown rating
        "req-2,,,,,Great\n"  # unknown band
        "req-3,,,,A,A\n"  # both labels
        ",,,,A,\n"  # no key
        "req-4,-1,,,A,\n"  # bad row
        ",,Acme,2015-03-14,A,\n"  # bad date
        "req-5,,Acme,3/14/2015,A,\n",  # both keys
    )

    with pytest.raises(OutcomesRejected) as refused:
        read_outcomes_csv(path)

    assert [(where, field) for where, field, _ in refused.value.problems] == [
        ("row 2", "Rating"),
        ("row 3", "band"),
        ("row 4", "Rating"),
        ("row 5", "request_id"),
        ("row 6", "row"),
        ("row 7", "Date"),
        ("row 8", "request_id"),
    ]
    message = str(refused.value)
    assert message.startswith(f"{path}: no outcome attached: row 2: Rating: unknown rating label")
    assert "unknown band 'Great'" in message


def test_given_an_unknown_column_or_no_rows_or_no_file_when_read_then_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"unknown column\(s\) 'score'"):
        read_outcomes_csv(_csv(tmp_path, "request_id,Rating,score\nreq-1,A,9\n"))
    with pytest.raises(DataError, match="no outcomes given"):
        read_outcomes_csv(_csv(tmp_path, "request_id,Rating\n"))
    with pytest.raises(DataError, match="no such file"):
        read_outcomes_csv(tmp_path / "missing.csv")


def test_given_json_objects_when_parsed_then_types_are_checked_and_named_by_index():
    with pytest.raises(OutcomesRejected) as refused:
        parse_outcomes(
            [{"request_id": 7, "band": "A"}, {"request_id": "r", "row": True, "band": "A"}, "x"],
            origin="outcomes",
        )
    assert [(where, field) for where, field, _ in refused.value.problems] == [
        ("outcomes[0]", "request_id"),
        ("outcomes[1]", "row"),
        ("outcomes[2]", "outcome"),
    ]
