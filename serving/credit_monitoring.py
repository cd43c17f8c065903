"""What the credit service keeps of each scored application for monitoring
(``monitoring.keep_credit_features``): the 25 ratios and the sector, which are company
financials, the band and score it answered, and the company and rating date that a
realised rating can later be matched on (``senim credit outcomes``).

Built after the answer is sent, from the request as sent: it was valid (the answer was
200), so only the two spellings of each field (``currentRatio``, ``current_ratio``) need
to be read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pipelines.credit.schema import DATE, DATE_FORMAT, FEATURE_COLUMNS, NAME
from serving.credit_schemas import CreditApplication

MONITORED_FAMILY = "credit"

# Each kept column with the field name the request may use instead of it.
_SPELLINGS: tuple[tuple[str, str], ...] = tuple(
    (field.alias, name)
    for name, field in CreditApplication.model_fields.items()
    if field.alias in FEATURE_COLUMNS
)
_NAME_FIELD = "name"
_DATE_FIELD = "date"


def monitoring_rows(
    inputs: list[Any], outputs: list[dict[str, Any]], today: dt.date | None = None
) -> tuple[dict[str, Any], ...]:
    """One monitoring row per answered application, in request order; () when the
    request and the answer do not pair up (nothing is guessed)."""
    if len(inputs) != len(outputs) or not all(isinstance(one, dict) for one in inputs):
        return ()
    scored_on = (today or dt.datetime.now(dt.UTC).date()).isoformat()
    return tuple(
        {
            "row_index": index,
            "features": {column: _read(application, column, field) for column, field in _SPELLINGS},
            "prediction": answer["rating_band"],
            "score": answer.get("score"),
            "company": _read(application, NAME, _NAME_FIELD),
            "rating_date": _iso(_read(application, DATE, _DATE_FIELD)) or scored_on,
        }
        for index, (application, answer) in enumerate(zip(inputs, outputs, strict=True))
    )


def _read(application: dict[str, Any], column: str, field: str) -> Any:
    return application[column] if column in application else application.get(field)


def _iso(date: Any) -> str | None:
    """An M/D/YYYY rating date as ISO (YYYY-MM-DD); None when absent."""
    if not isinstance(date, str):
        return None
    try:
        return dt.datetime.strptime(date, DATE_FORMAT).date().isoformat()
    except ValueError:
        return None
