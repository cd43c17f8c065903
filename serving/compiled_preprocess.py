"""The credit pipeline's preprocessing as plain numpy, for complete rows (the service's).

``ColumnTransformer.transform`` on one row costs about 1.5 ms, almost all of it pandas
and input validation; the arithmetic is tiny. For the structures ``build_preprocess``
makes (ratios through KNNImputer, optionally signed log and StandardScaler; one-hot
categorical columns; the rating year, optionally scaled) and the earlier one (ratios and
a one-hot sector), and rows with no missing ratio, the result is: KNNImputer leaves a
complete row as it is, the signed log and the scaler do what sklearn does (the same
numpy operations, so the same bits), and one column per known category. Any other
structure is not compiled, and the compiled form is checked bit for bit against the
fitted transformer before it is used; otherwise the service uses the transformer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from models.credit_features import rating_year, signed_log
from pipelines.credit.schema import AGENCIES, AGENCY, DATE, RATIO_COLUMNS, SECTOR, SECTORS
from pipelines.credit.scoring_inputs import ScoringRows


@dataclass(frozen=True)
class _Scaling:
    mean: np.ndarray | None
    scale: np.ndarray | None

    def apply(self, values: np.ndarray) -> np.ndarray:
        if self.mean is not None:
            values -= self.mean
        if self.scale is not None:
            values /= self.scale
        return values


@dataclass(frozen=True)
class _Ratios:
    log: bool
    scaling: _Scaling

    def transform(self, rows: ScoringRows) -> np.ndarray:
        values = np.array(rows.ratios, dtype=np.float64)  # a copy: scaling works in place
        if self.log:
            values = signed_log(values)
        return self.scaling.apply(values)


@dataclass(frozen=True)
class _OneHot:
    columns: tuple[str, ...]
    categories: tuple[tuple[str, ...], ...]

    def transform(self, rows: ScoringRows) -> np.ndarray:
        blocks = []
        for column, categories in zip(self.columns, self.categories, strict=True):
            block = np.zeros((len(rows), len(categories)), dtype=np.float64)
            index = {category: position for position, category in enumerate(categories)}
            for row, value in enumerate(rows.texts[column]):
                position = index.get(value)
                if position is not None:
                    block[row, position] = 1.0
            blocks.append(block)
        return np.hstack(blocks)


@dataclass(frozen=True)
class _Year:
    fill: float
    scaling: _Scaling

    def transform(self, rows: ScoringRows) -> np.ndarray:
        years = rating_year(rows.texts[DATE])
        years[np.isnan(years)] = self.fill
        return self.scaling.apply(years)


@dataclass(frozen=True)
class CompiledPreprocess:
    blocks: tuple[Any, ...]  # in the ColumnTransformer's order

    @classmethod
    def compile(cls, preprocess: Any) -> CompiledPreprocess | None:
        """The compiled form of a fitted ColumnTransformer, or None when its structure
        is not one described above or the compiled output differs in any bit."""
        compiled = _from_structure(preprocess)
        if compiled is None:
            return None
        rows = _check_rows()
        expected = np.asarray(preprocess.transform(rows.frame()), dtype=float)
        actual = compiled.transform(rows)
        if expected.shape != actual.shape or not np.array_equal(expected, actual):
            return None
        return compiled

    def transform(self, rows: ScoringRows) -> np.ndarray:
        """The model's input for complete rows (no NaN ratio)."""
        return np.hstack([block.transform(rows) for block in self.blocks])


def _scaling(steps: list[Any]) -> _Scaling | None:
    """At most one StandardScaler and nothing else, or None."""
    from sklearn.preprocessing import StandardScaler

    if not steps:
        return _Scaling(None, None)
    if len(steps) == 1 and isinstance(steps[0], StandardScaler):
        scaler = steps[0]
        return _Scaling(
            scaler.mean_ if scaler.with_mean else None, scaler.scale_ if scaler.with_std else None
        )
    return None


def _ratios_block(step: Any, columns: list[str]) -> _Ratios | None:
    from sklearn.impute import KNNImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    if list(columns) != list(RATIO_COLUMNS) or not isinstance(step, Pipeline):
        return None
    steps = [s for _, s in step.steps]
    if not steps or not isinstance(steps[0], KNNImputer):
        return None
    rest = steps[1:]
    log = bool(rest) and isinstance(rest[0], FunctionTransformer)
    if log:
        transformer = rest[0]
        if transformer.func is not signed_log or transformer.inverse_func is not None:
            return None
        rest = rest[1:]
    scaling = _scaling(rest)
    return None if scaling is None else _Ratios(log, scaling)


def _one_hot_block(step: Any, columns: list[str]) -> _OneHot | None:
    from sklearn.preprocessing import OneHotEncoder

    if (
        not isinstance(step, OneHotEncoder)
        or step.handle_unknown != "ignore"
        or step.drop_idx_ is not None
        or not set(columns) <= {SECTOR, AGENCY}
    ):
        return None
    categories = tuple(tuple(str(c) for c in cats) for cats in step.categories_)
    return _OneHot(tuple(columns), categories)


def _year_block(step: Any, columns: list[str]) -> _Year | None:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    if list(columns) != [DATE] or not isinstance(step, Pipeline):
        return None
    steps = [s for _, s in step.steps]
    if (
        len(steps) < 2
        or not isinstance(steps[0], FunctionTransformer)
        or steps[0].func is not rating_year
        or not isinstance(steps[1], SimpleImputer)
    ):
        return None
    scaling = _scaling(steps[2:])
    if scaling is None:
        return None
    return _Year(float(steps[1].statistics_[0]), scaling)


def _from_structure(preprocess: Any) -> CompiledPreprocess | None:
    from sklearn.compose import ColumnTransformer

    if not isinstance(preprocess, ColumnTransformer):
        return None
    blocks: list[Any] = []
    for name, step, columns in preprocess.transformers_:
        if name == "remainder":
            if not (isinstance(step, str) and step == "drop"):
                return None
            continue
        if name == "ratios":
            block = _ratios_block(step, list(columns))
        elif name in ("sector", "categories"):
            block = _one_hot_block(step, list(columns))
        elif name == "rating_year":
            block = _year_block(step, list(columns))
        else:
            return None
        if block is None:
            return None
        blocks.append(block)
    if not blocks or not isinstance(blocks[0], _Ratios):
        return None
    return CompiledPreprocess(tuple(blocks))


def _check_rows() -> ScoringRows:
    """Every sector and agency (and unknown ones), varied dates, and ratios including
    zeros, negatives and values in the thousands."""
    rng = np.random.default_rng(0)
    sectors = [*SECTORS, "\x00unknown sector"]
    n = len(sectors)
    ratios = rng.normal(0, 3, size=(n, len(RATIO_COLUMNS)))
    ratios[0] = 0.0
    ratios[1] = 1.0
    ratios[2] = rng.normal(0, 3000, size=len(RATIO_COLUMNS))
    agencies = [*AGENCIES, "\x00unknown agency"]
    return ScoringRows(
        ratios=ratios,
        texts={
            SECTOR: sectors,
            AGENCY: [agencies[i % len(agencies)] for i in range(n)],
            DATE: [f"{1 + i % 12}/{1 + i}/{2005 + i}" for i in range(n)],
        },
    )
