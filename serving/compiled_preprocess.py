"""The credit pipeline's preprocessing as plain numpy, for complete rows (the service's).

``ColumnTransformer.transform`` on one row costs about 1.5 ms, almost all of it pandas
and input validation; the arithmetic is tiny. For the structure ``build_pipeline``
makes (ratios through KNNImputer and optionally StandardScaler, the sector one-hot
encoded) and rows with no missing value, the result is: KNNImputer leaves a complete row
as it is, StandardScaler subtracts the mean and divides by the scale (the same two
operations sklearn performs, so the same bits), and one column per known sector. Any
other structure is not compiled, and the compiled form is checked bit for bit against
the fitted transformer before it is used; otherwise the service uses the transformer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipelines.credit.schema import RATIO_COLUMNS, SECTOR, SECTORS


@dataclass(frozen=True)
class CompiledPreprocess:
    mean: np.ndarray | None  # StandardScaler's, or None without a scaler
    scale: np.ndarray | None
    sectors: tuple[str, ...]  # the one-hot columns, in order

    @classmethod
    def compile(cls, preprocess: Any) -> CompiledPreprocess | None:
        """The compiled form of a fitted ColumnTransformer, or None when its structure
        is not the one described above or the compiled output differs in any bit."""
        compiled = _from_structure(preprocess)
        if compiled is None:
            return None
        rows = _check_rows()
        expected = np.asarray(preprocess.transform(rows), dtype=float)
        actual = compiled.transform(rows[list(RATIO_COLUMNS)].to_numpy(float), rows[SECTOR])
        return compiled if np.array_equal(expected, actual) else None

    def transform(self, ratios: np.ndarray, sectors: Sequence[str]) -> np.ndarray:
        """``ratios`` (n, 25) float64 in RATIO_COLUMNS order, no NaN; ``sectors`` (n,)."""
        values = np.array(ratios, dtype=np.float64)  # a copy: the scaler works in place
        if self.mean is not None:
            values -= self.mean
        if self.scale is not None:
            values /= self.scale
        one_hot = np.zeros((len(values), len(self.sectors)), dtype=np.float64)
        index = {sector: column for column, sector in enumerate(self.sectors)}
        for row, sector in enumerate(sectors):
            column = index.get(sector)
            if column is not None:
                one_hot[row, column] = 1.0
        return np.hstack([values, one_hot])


def _from_structure(preprocess: Any) -> CompiledPreprocess | None:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import KNNImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if not isinstance(preprocess, ColumnTransformer):
        return None
    fitted = {name: (step, columns) for name, step, columns in preprocess.transformers_}
    if set(fitted) - {"remainder"} != {"ratios", "sector"}:
        return None
    ratios, ratio_columns = fitted["ratios"]
    encoder, sector_columns = fitted["sector"]
    remainder = fitted.get("remainder", ("drop", []))[0]
    if (
        list(ratio_columns) != list(RATIO_COLUMNS)
        or list(sector_columns) != [SECTOR]
        or remainder != "drop"
        or not isinstance(ratios, Pipeline)
        or not isinstance(encoder, OneHotEncoder)
        or encoder.handle_unknown != "ignore"
        or encoder.drop_idx_ is not None
    ):
        return None
    order = [name for name, _, _ in preprocess.transformers_ if name != "remainder"]
    if order != ["ratios", "sector"]:
        return None
    mean = scale = None
    for _, step in ratios.steps:
        if isinstance(step, KNNImputer):
            continue
        if isinstance(step, StandardScaler) and mean is None and scale is None:
            mean = step.mean_ if step.with_mean else None
            scale = step.scale_ if step.with_std else None
            continue
        return None
    return CompiledPreprocess(mean=mean, scale=scale, sectors=tuple(encoder.categories_[0]))


def _check_rows() -> pd.DataFrame:
    """Every sector (and one unknown) with varied ratios, including zeros and negatives."""
    rng = np.random.default_rng(0)
    sectors = [*SECTORS, "\x00unknown sector"]
    ratios = rng.normal(0, 3, size=(len(sectors), len(RATIO_COLUMNS)))
    ratios[0] = 0.0
    ratios[1] = 1.0
    frame = pd.DataFrame(ratios, columns=list(RATIO_COLUMNS))
    frame[SECTOR] = sectors
    return frame
