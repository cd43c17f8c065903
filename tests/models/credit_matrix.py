"""A small, learnable credit table for model tests: several rated rows per company.

Each company has a latent credit quality; its rows' ratios load on that quality plus
noise, and the band is the quality cut at fixed thresholds (middle bands commonest).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.credit.schema import (
    AGENCIES,
    AGENCY,
    DATE,
    NAME,
    RATIO_COLUMNS,
    SECTOR,
    SECTORS,
    model_recipe,
)
from senim.config import FeatureParams

BAND = "band"
# What the candidates read by default (params.yaml's features): ratios, sector, agency, year.
RECIPE = model_recipe(FeatureParams())
# Ratios that get missing values, to exercise KNNImputer; currentRatio stays complete
# so tests can trace rows through the pipeline by its value.
NAN_COLUMNS: tuple[str, ...] = ("quickRatio", "returnOnEquity", "debtRatio", "payablesTurnover")
_THRESHOLDS = np.array([-1.2, -0.5, 0.0, 0.5, 1.2])  # quality -> band code 0..5


def credit_matrix(
    n_companies: int = 90,
    *,
    rows_per_company: tuple[int, int] = (2, 5),
    nan_fraction: float = 0.05,
    noise: float = 0.3,
    seed: int = 0,
) -> pd.DataFrame:
    """Ratios, Sector, Rating Agency Name, Date, Name and an integer ``band`` column
    (0 = Junk .. 5 = A+)."""
    rng = np.random.default_rng(seed)
    low, high = rows_per_company
    sizes = rng.integers(low, high + 1, size=n_companies)
    company_quality = rng.normal(0.0, 1.0, size=n_companies)
    company_sector = rng.choice(SECTORS[:6], size=n_companies)
    company = np.repeat(np.arange(n_companies), sizes)
    quality = company_quality[company] + rng.normal(0.0, 0.15, size=company.size)
    loadings = rng.normal(0.0, 1.0, size=len(RATIO_COLUMNS))
    ratios = quality[:, None] * loadings[None, :] + rng.normal(
        0.0, noise, size=(company.size, len(RATIO_COLUMNS))
    )
    frame = pd.DataFrame(ratios, columns=list(RATIO_COLUMNS))
    for column in NAN_COLUMNS:
        frame.loc[rng.random(company.size) < nan_fraction, column] = np.nan
    frame[SECTOR] = company_sector[company]
    frame[AGENCY] = rng.choice(AGENCIES[:4], size=company.size)
    frame[DATE] = [
        f"{m}/{d}/{y}"
        for m, d, y in zip(
            rng.integers(1, 13, company.size),
            rng.integers(1, 29, company.size),
            rng.integers(2010, 2017, company.size),
            strict=True,
        )
    ]
    frame[NAME] = [f"Company {i:03d}" for i in company]
    frame[BAND] = np.searchsorted(_THRESHOLDS, quality)
    return frame
