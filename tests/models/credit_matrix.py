"""A small, learnable credit table for model tests: several rated rows per company.

Each company has a latent credit quality; its rows' ratios load on that quality plus
noise, and the band is the quality cut at fixed thresholds (middle bands commonest).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.credit.schema import NAME, RATIO_COLUMNS, SECTOR, SECTORS

BAND = "band"
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
    """Ratios, Sector, Name and an integer ``band`` column (0 = Junk .. 5 = A+)."""
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
    frame[NAME] = [f"Company {i:03d}" for i in company]
    frame[BAND] = np.searchsorted(_THRESHOLDS, quality)
    return frame
