"""Credit frames for data tests: a small clean frame built here, or the real dev file.

The built frame is valid by construction (every band, ratios inside every range the suite
checks, unique rows), so a test can inject one fault and expect exactly that failure.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.credit.rating_bands import ALLOWED_RATINGS, BANDS, rating_to_band
from pipelines.credit.schema import (
    AGENCIES,
    AGENCY,
    ALL_COLUMNS,
    DATE,
    NAME,
    RATING,
    RATIO_COLUMNS,
    SECTOR,
    SECTORS,
    SYMBOL,
)

REAL_DEV_CSV = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "corporate_rating"
    / "corporate_rating_dev.csv"
)  # fmt: skip


def clean_credit_frame(rows_per_band: int = 25, seed: int = 7) -> pd.DataFrame:
    """``rows_per_band`` rows in each of the six bands, in the schema's dtypes."""
    rng = np.random.default_rng(seed)
    labels = [
        str(rng.choice([label for label in ALLOWED_RATINGS if rating_to_band(label) == band]))
        for band in BANDS
        for _ in range(rows_per_band)
    ]
    n = len(labels)
    company = rng.integers(0, max(n // 3, 1), size=n)
    start = date(2005, 1, 1)
    days = rng.integers(0, (date(2016, 12, 31) - start).days, size=n)
    dates = [start + timedelta(days=int(day)) for day in days]
    frame = pd.DataFrame(
        {
            RATING: labels,
            NAME: [f"Company {k:03d} Inc." for k in company],
            SYMBOL: [f"C{k:03d}" for k in company],
            AGENCY: [AGENCIES[k % len(AGENCIES)] for k in company],
            DATE: [f"{d.month}/{d.day}/{d.year}" for d in dates],
            SECTOR: [SECTORS[k % len(SECTORS)] for k in company],
        }
    )
    # (0.05, 0.95) lies inside every hard limit and accounting norm the suite checks.
    for column in RATIO_COLUMNS:
        frame[column] = rng.uniform(0.05, 0.95, size=n)
    return frame[list(ALL_COLUMNS)]


def read_real_dev_frame(path: Path = REAL_DEV_CSV) -> pd.DataFrame:
    """The real dev file in the schema's dtypes: float64 ratios, text elsewhere."""
    frame = pd.read_csv(
        path,
        dtype={column: "float64" if column in RATIO_COLUMNS else str for column in ALL_COLUMNS},
        keep_default_na=False,
        na_values={column: [""] for column in RATIO_COLUMNS},
    )
    return frame[list(ALL_COLUMNS)]
