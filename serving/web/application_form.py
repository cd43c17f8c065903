"""The credit application as a person fills it in: labels, units, hints, and parsing a
form or a CSV file into ``CreditApplication`` with every problem named by field (and row).

The rules are the API's own (``serving.credit_schemas.CreditApplication``): the form only
turns text into numbers first, so "abc" in a ratio is "enter a number", and everything
else (bounds, sectors, agencies, dates) is the schema's message, next to its field.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from pipelines.credit.reason_codes import FEATURE_LABELS
from pipelines.credit.schema import AGENCIES, AGENCY, DATE, RATIO_COLUMNS, SECTOR, SECTORS
from serving.credit_schemas import CreditApplication

IDENTITY_FIELDS = ("Name", "Symbol")
CHOICE_FIELDS = (SECTOR, AGENCY)
KNOWN_COLUMNS = frozenset((*RATIO_COLUMNS, SECTOR, AGENCY, DATE, *IDENTITY_FIELDS, "Rating"))


def unit_of(column: str) -> str:
    """What a ratio is measured in, as the form shows it beside the field."""
    if column == "daysOfSalesOutstanding":
        return "days"
    if column.endswith("PerShare"):
        return "currency per share"
    if (
        "Margin" in column
        or column.startswith("returnOn")
        or column
        in (
            "effectiveTaxRate",
            "ebitPerRevenue",
            "operatingCashFlowSalesRatio",
            "freeCashFlowOperatingCashFlowRatio",
        )
    ):
        return "fraction (0.12 = 12%)"
    if "Turnover" in column:
        return "times a year"
    return "ratio (times)"


@dataclass(frozen=True)
class FormField:
    name: str  # the schema column, also the form field's name
    label: str
    unit: str
    required: bool
    choices: tuple[str, ...] = ()
    hint: str = ""

    @property
    def html_id(self) -> str:
        return "f-" + "".join(ch if ch.isalnum() else "-" for ch in self.name)


def _ratio_field(column: str) -> FormField:
    label = FEATURE_LABELS[column]
    return FormField(column, label[0].upper() + label[1:], unit_of(column), True)


COMPANY_FIELDS: tuple[FormField, ...] = (
    FormField("Name", "Company name", "", False, hint="Shown in your history; not scored."),
    FormField("Symbol", "Ticker symbol", "", False, hint="Optional; not scored."),
    FormField(SECTOR, "Sector", "", True, SECTORS),
    FormField(
        AGENCY,
        "Rating scale (agency)",
        "",
        False,
        AGENCIES,
        hint="The agency scale to rate on; empty: the service's default.",
    ),
    FormField(DATE, "Rating date", "M/D/YYYY", False, hint="Not in the future; empty: today."),
)
RATIO_FIELDS: tuple[FormField, ...] = tuple(_ratio_field(column) for column in RATIO_COLUMNS)
ALL_FIELDS: tuple[FormField, ...] = COMPANY_FIELDS + RATIO_FIELDS
FIELD_BY_NAME = {f.name: f for f in ALL_FIELDS}


@dataclass
class Parsed:
    """One application, or the problems that kept it from being one (field -> message)."""

    values: dict[str, str]  # as entered, to show the form again
    application: CreditApplication | None
    problems: dict[str, str]


def parse_application(raw: dict[str, Any]) -> Parsed:
    """A form's (or a CSV row's) text values -> ``CreditApplication``, or the problems."""
    values = {key: str(value).strip() for key, value in raw.items() if key in KNOWN_COLUMNS}
    problems: dict[str, str] = {}
    body: dict[str, Any] = {}
    for key, text in values.items():
        if text == "" or key == "Rating":
            continue
        if key in RATIO_COLUMNS:
            try:
                number = float(text.replace(",", "")) if _numeric(text) else None
            except ValueError:
                number = None
            if number is None or not math.isfinite(number):
                problems[key] = "enter a number, such as 1.25"
                continue
            body[key] = number
        else:
            body[key] = text
    try:
        application = CreditApplication.model_validate(body)
    except ValidationError as exc:
        for error in exc.errors():
            location = [str(part) for part in error.get("loc", ())]
            name = _column_of(location[0]) if location else "form"
            problems.setdefault(name, _plain(error.get("msg", "invalid")))
        return Parsed(values, None, problems)
    if problems:
        return Parsed(values, None, problems)
    return Parsed(values, application, {})


def parse_csv(data: bytes, max_rows: int) -> tuple[list[Parsed], list[str]]:
    """Every row of an uploaded CSV, parsed; plus file-level problems (encoding, header,
    unknown columns, too many rows), which stop everything."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], ["the file is not UTF-8 text: save it as CSV UTF-8"]
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    if not header:
        return [], ["the file is empty: the first line must name the columns"]
    unknown = [name for name in header if name not in KNOWN_COLUMNS]
    if unknown:
        return [], [
            f"unknown column(s): {', '.join(unknown[:5])}; use the schema's names "
            f"(download the template)"
        ]
    missing = [c for c in (*RATIO_COLUMNS, SECTOR) if c not in header]
    if missing:
        return [], [f"missing column(s): {', '.join(missing[:5])}"]
    rows = []
    for row in reader:
        if None in row:
            return [], [f"row {reader.line_num - 1}: more values than columns"]
        rows.append(parse_application(row))
        if len(rows) > max_rows:
            return [], [f"more than {max_rows} applications: split the file"]
    if not rows:
        return [], ["the file has a header but no applications"]
    return rows, []


def template_csv() -> str:
    """An empty upload file: the columns in the order the form shows them."""
    return ",".join(f.name for f in ALL_FIELDS) + "\n"


def _numeric(text: str) -> bool:
    return any(ch.isdigit() for ch in text) and text.lower() not in ("nan", "inf", "-inf")


_ALIAS_OF_FIELD = {name: f.alias for name, f in CreditApplication.model_fields.items()}


def _column_of(location: str) -> str:
    return _ALIAS_OF_FIELD.get(location, location)


def _plain(message: str) -> str:
    """pydantic's message, without its prefixes ("Value error, ...")."""
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    return message[0].lower() + message[1:] if message else "invalid"
