"""What one scoring request carries beyond the ratios and sector, checked and defaulted
in one place for the service, ``senim credit predict`` and the behavioural checks.

A rating is asked for on one agency's scale (``Rating Agency Name``: agencies rate on
different scales, Egan-Jones apart from S&P and Moody's) and as of a date (``Date``,
read as its year). Both are optional: a request without them is rated on the default
agency's scale (``scoring.default_rating_agency``, S&P unless configured) as of the
day it is scored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.credit.schema import (
    AGENCIES,
    AGENCY,
    DATE,
    DATE_FORMAT,
    MODEL_COLUMNS,
    RATIO_COLUMNS,
    SECTOR,
)

EARLIEST_RATING_YEAR = 1900


def check_agency(value: str) -> str:
    """The agency name, or a ValueError listing the known ones."""
    if value not in AGENCIES:
        raise ValueError(f"must be one of: {'; '.join(AGENCIES)}")
    return value


def check_rating_date(value: str, today: dt.date | None = None) -> str:
    """An M/D/YYYY date from 1900 up to today, or a ValueError saying which rule failed."""
    try:
        parsed = dt.datetime.strptime(value, DATE_FORMAT).date()
    except (TypeError, ValueError):
        raise ValueError("must be a date written M/D/YYYY") from None
    if parsed.year < EARLIEST_RATING_YEAR:
        raise ValueError(f"must be in {EARLIEST_RATING_YEAR} or later")
    if parsed > (today or dt.date.today()):
        raise ValueError("must not be in the future")
    return value


def schema_date(day: dt.date) -> str:
    """``day`` written as the schema writes dates (M/D/YYYY, no zero padding)."""
    return f"{day.month}/{day.day}/{day.year}"


@dataclass(frozen=True)
class ScoringDefaults:
    """What a request that names no agency or date is rated on."""

    agency: str
    day: dt.date

    @classmethod
    def today(cls, agency: str) -> ScoringDefaults:
        return cls(agency=check_agency(agency), day=dt.date.today())

    @property
    def date(self) -> str:
        return schema_date(self.day)


@dataclass(frozen=True)
class ScoringRows:
    """Rows to score without a DataFrame: what the compiled preprocessing and the reason
    codes read. ``texts`` holds Sector, Rating Agency Name and Date per row."""

    ratios: np.ndarray  # (n, 25) float64, RATIO_COLUMNS order
    texts: dict[str, list[str]]

    def __len__(self) -> int:
        return int(self.ratios.shape[0])

    def frame(self) -> pd.DataFrame:
        """The model's input: MODEL_COLUMNS in order, ratios float64, the rest text."""
        columns: dict[str, object] = {
            column: self.ratios[:, i] for i, column in enumerate(RATIO_COLUMNS)
        }
        for column in (SECTOR, AGENCY, DATE):
            columns[column] = pd.Series(self.texts[column], dtype=object)
        return pd.DataFrame(columns, columns=list(MODEL_COLUMNS))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> ScoringRows:
        return cls(
            ratios=frame.loc[:, list(RATIO_COLUMNS)].to_numpy(dtype=np.float64),
            texts={c: frame[c].tolist() for c in (SECTOR, AGENCY, DATE)},
        )

    @classmethod
    def of(
        cls,
        ratios: np.ndarray,
        sectors: Sequence[str],
        agencies: Sequence[str | None],
        dates: Sequence[str | None],
        defaults: ScoringDefaults,
    ) -> ScoringRows:
        """Rows from checked values; ``None`` agency or date takes the default."""
        return cls(
            ratios=np.asarray(ratios, dtype=np.float64).reshape(len(sectors), len(RATIO_COLUMNS)),
            texts={
                SECTOR: list(sectors),
                AGENCY: [defaults.agency if a is None else a for a in agencies],
                DATE: [defaults.date if d is None else d for d in dates],
            },
        )
