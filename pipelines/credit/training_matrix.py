"""Turn a validated snapshot into what the models see: features, band codes, companies."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.credit.rating_bands import group_ratings
from pipelines.credit.schema import MODEL_COLUMNS, NAME, RATING
from senim.errors import DataError


@dataclass(frozen=True)
class TrainingMatrix:
    features: pd.DataFrame  # MODEL_COLUMNS: ratios as float, sector, agency, date as text
    bands: np.ndarray  # band codes 0 (Junk) .. 5 (A+)
    companies: np.ndarray  # Name per row: the CV grouping key

    @property
    def n_rows(self) -> int:
        return len(self.bands)


def training_matrix(frame: pd.DataFrame) -> TrainingMatrix:
    missing = [c for c in (*MODEL_COLUMNS, NAME, RATING) if c not in frame.columns]
    if missing:
        raise DataError(f"training data lacks columns: {', '.join(missing)}")
    try:
        bands = group_ratings(frame[RATING].astype(str))
    except ValueError as exc:
        raise DataError(f"column {RATING}: {exc}") from None
    return TrainingMatrix(
        features=frame.loc[:, list(MODEL_COLUMNS)].reset_index(drop=True),
        bands=bands,
        companies=frame[NAME].astype(str).to_numpy(),
    )


def load_training_matrix(snapshot: Path) -> TrainingMatrix:
    from pipelines.credit.sources import read_credit_csv

    return training_matrix(read_credit_csv(Path(snapshot)))
