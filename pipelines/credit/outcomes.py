"""Realised ratings for logged credit predictions: read, checked, then attached to the
monitoring rows (``pipelines.release.monitoring_store``), all or nothing.

An outcome names its prediction by ``request_id`` (the ``X-Request-ID`` of the scoring
call, with ``row`` for the n-th application of a batch, default 0) or by ``Name`` and
``Date`` (M/D/YYYY: the date the application sent, or the day it was scored when it
sent none). Its label is ``Rating`` (an agency rating such as
``BBB-``) or ``band`` (one of A+, A, BBB, BB, B, Junk), exactly one of the two. The
same columns arrive as a CSV file (``senim credit outcomes``) or as JSON objects
(``POST /v1/credit/outcomes``).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipelines.credit.rating_bands import BANDS, UnknownRatingError, rating_to_band
from pipelines.credit.schema import DATE, DATE_FORMAT, NAME, RATING
from pipelines.release.monitoring_store import Outcome, OutcomesRejected
from senim.errors import DataError

FAMILY = "credit"
REQUEST_ID = "request_id"
ROW = "row"
BAND = "band"
KNOWN_FIELDS = (REQUEST_ID, ROW, NAME, DATE, RATING, BAND)
MAX_OUTCOMES = 10_000
MAX_TEXT = 200
MAX_ROW = 1_000_000  # far above any batch; keeps the index within a database integer


def read_outcomes_csv(path: Path) -> list[Outcome]:
    """The outcomes of a CSV file; a DataError names the file, and each bad row and column."""
    outcomes, problems = read_outcomes_csv_checked(path)
    if problems:
        raise OutcomesRejected(problems, str(path))
    return outcomes


def read_outcomes_csv_checked(path: Path) -> tuple[list[Outcome], list[tuple[str, str, str]]]:
    """The good outcomes of a CSV file and a (where, field, problem) for each bad row, so
    the store's checks can add theirs and one error names everything; a DataError for a
    file that cannot be read as outcomes at all."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            records = list(reader)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read as CSV: {exc}") from None
    unknown = [column for column in header if column not in KNOWN_FIELDS]
    if unknown:
        raise DataError(
            f"{path}: unknown column(s) {', '.join(map(repr, unknown))}; "
            f"expected {', '.join(KNOWN_FIELDS)}"
        )
    # Row numbers as a spreadsheet shows them: the header is row 1.
    return parse_outcomes_checked(records, origin=str(path), where=lambda i: f"row {i + 2}")


def parse_outcomes(
    records: Sequence[Mapping[str, Any]], *, origin: str, where=lambda i: f"outcomes[{i}]"
) -> list[Outcome]:
    """Checked outcomes, or ``OutcomesRejected`` listing every bad record and field."""
    outcomes, problems = parse_outcomes_checked(records, origin=origin, where=where)
    if problems:
        raise OutcomesRejected(problems, origin)
    return outcomes


def parse_outcomes_checked(
    records: Sequence[Mapping[str, Any]], *, origin: str, where=lambda i: f"outcomes[{i}]"
) -> tuple[list[Outcome], list[tuple[str, str, str]]]:
    """The good outcomes and a (where, field, problem) for each bad record; a DataError
    when there is nothing to check (no records, too many)."""
    if not records:
        raise DataError(f"{origin}: no outcomes given")
    if len(records) > MAX_OUTCOMES:
        raise DataError(f"{origin}: at most {MAX_OUTCOMES} outcomes at once, got {len(records)}")
    outcomes: list[Outcome] = []
    problems: list[tuple[str, str, str]] = []
    for index, record in enumerate(records):
        line = where(index)
        try:
            outcomes.append(_outcome(record, line))
        except _BadField as bad:
            problems.append((line, bad.field, bad.problem))
    return outcomes, problems


class _BadField(Exception):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field, self.problem = field, problem


def _outcome(record: Mapping[str, Any], line: str) -> Outcome:
    if not isinstance(record, Mapping):
        raise _BadField("outcome", "must be an object")
    unknown = [key for key in record if key not in KNOWN_FIELDS]
    if unknown:
        raise _BadField(str(unknown[0]), f"unknown field; expected {', '.join(KNOWN_FIELDS)}")
    label = _label(record)
    request_id = _text(record, REQUEST_ID)
    name = _text(record, NAME)
    if request_id is not None:
        if name is not None:
            raise _BadField(REQUEST_ID, f"give {REQUEST_ID} or {NAME} and {DATE}, not both")
        return Outcome(line=line, label=label, request_id=request_id, row_index=_row(record))
    if name is None:
        raise _BadField(REQUEST_ID, f"missing: give {REQUEST_ID}, or {NAME} and {DATE}")
    if not _blank(record.get(ROW)):
        raise _BadField(ROW, f"only with {REQUEST_ID}")
    return Outcome(line=line, label=label, company=name, rating_date=_date(record))


def _label(record: Mapping[str, Any]) -> str:
    rating, band = _text(record, RATING), _text(record, BAND)
    if (rating is None) == (band is None):
        raise _BadField(RATING, f"give exactly one of {RATING} (an agency rating) or {BAND}")
    if rating is not None:
        try:
            return rating_to_band(rating)
        except UnknownRatingError as exc:
            raise _BadField(RATING, str(exc)) from None
    if band not in BANDS:
        raise _BadField(
            BAND, f"unknown band {band!r}: expected one of {', '.join(reversed(BANDS))}"
        )
    return band


def _text(record: Mapping[str, Any], field: str) -> str | None:
    value = record.get(field)
    if _blank(value):
        return None
    if not isinstance(value, str):
        raise _BadField(field, f"must be text, got {type(value).__name__}")
    value = value.strip()
    if len(value) > MAX_TEXT or any(ord(ch) < 32 for ch in value):
        raise _BadField(field, f"must be at most {MAX_TEXT} printable characters")
    return value


def _row(record: Mapping[str, Any]) -> int:
    value = record.get(ROW)
    if _blank(value):
        return 0
    if isinstance(value, bool):
        raise _BadField(ROW, f"must be a whole number from 0 to {MAX_ROW - 1}")
    try:
        row = int(value)
    except (TypeError, ValueError):
        raise _BadField(
            ROW, f"must be a whole number from 0 to {MAX_ROW - 1}, got {value!r}"
        ) from None
    if row < 0 or row >= MAX_ROW or str(row) != str(value).strip():
        raise _BadField(ROW, f"must be a whole number from 0 to {MAX_ROW - 1}, got {value!r}")
    return row


def _date(record: Mapping[str, Any]) -> str:
    value = _text(record, DATE)
    if value is None:
        raise _BadField(DATE, f"missing: with {NAME}, give the rating's {DATE} (M/D/YYYY)")
    try:
        return dt.datetime.strptime(value, DATE_FORMAT).date().isoformat()
    except ValueError:
        raise _BadField(DATE, f"must be a date written M/D/YYYY, got {value!r}") from None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())
