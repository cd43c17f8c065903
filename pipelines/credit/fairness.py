"""Credit fairness slices: does the model do markedly worse for one sector or agency?

The honest source is the selected model's out-of-fold predictions from the grouped CV:
each row is predicted by a model that never saw its company. For every column named in
``review.fairness.slices`` the report gives the metric per value of that column, the
slice size and its gap below the overall metric; a slice is flagged when the gap exceeds
``max_gap`` and the slice holds at least ``min_slice_size`` rows (smaller slices are
reported, never flagged: their metric is mostly noise).

Slice columns are required: ``Sector`` and ``Rating Agency Name`` are columns of the
training data contract (``credit_schema.ALL_COLUMNS``, enforced by ``read_credit_csv``),
so a slice column missing from the data is a configuration or data error, not a skip.
An empty cell in a slice column forms its own slice, ``(missing)``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from pipelines.common.model_card import fmt
from senim.config import FairnessParams
from senim.errors import DataError

MISSING = "(missing)"


def _macro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    # Labels seen in the slice (true or predicted): a sector without A+ companies is not
    # penalised for the A+ band it cannot have.
    return float(f1_score(y, pred, average="macro", zero_division=0))


def _balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
        return float(balanced_accuracy_score(y, pred))


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "macro_f1": _macro_f1,
    "balanced_accuracy": _balanced_accuracy,
    "accuracy": lambda y, pred: float(accuracy_score(y, pred)),
}


@dataclass(frozen=True)
class SliceResult:
    column: str
    value: str
    size: int
    metric: float
    gap: float  # overall minus slice: positive when the slice does worse
    flagged: bool


@dataclass(frozen=True)
class FairnessReport:
    metric: str
    overall: float
    rows: int
    max_gap: float
    min_slice_size: int
    slices: tuple[SliceResult, ...]

    @property
    def flagged(self) -> tuple[SliceResult, ...]:
        return tuple(s for s in self.slices if s.flagged)

    def to_json(self) -> str:
        payload = {
            "metric": self.metric,
            "overall": self.overall,
            "rows": self.rows,
            "max_gap": self.max_gap,
            "min_slice_size": self.min_slice_size,
            "flagged": len(self.flagged),
            "slices": [asdict(s) for s in self.slices],
        }
        return json.dumps(payload, indent=2, sort_keys=True) + "\n"

    def to_markdown(self) -> str:
        lines = [
            "# Fairness slices",
            "",
            f"Metric: {self.metric} on out-of-fold predictions ({self.rows} rows); "
            f"overall {fmt(self.overall)}. A slice is flagged when it is more than "
            f"{fmt(self.max_gap, 2)} below the overall and holds at least "
            f"{self.min_slice_size} rows. Flagged: {len(self.flagged)}.",
            "",
            f"| column | slice | rows | {self.metric} | gap | flagged |",
            "|---|---|---|---|---|---|",
        ]
        for s in self.slices:
            value = s.value.replace("|", "\\|")
            lines.append(
                f"| {s.column} | {value} | {s.size} | {fmt(s.metric)} | {fmt(s.gap)} | "
                f"{'yes' if s.flagged else 'no'} |"
            )
        return "\n".join(lines) + "\n"


def slice_report(
    frame: pd.DataFrame, y_true: np.ndarray, y_pred: np.ndarray, params: FairnessParams
) -> FairnessReport:
    """The metric overall and per value of each slice column, largest slice first.

    ``frame`` holds the slice columns row-aligned with ``y_true`` (band codes) and
    ``y_pred`` (out-of-fold predicted band codes).
    """
    y = np.asarray(y_true)
    pred = np.asarray(y_pred)
    if y.shape != pred.shape or y.ndim != 1:
        raise ValueError(f"y_true {y.shape} and y_pred {pred.shape} must be equal 1-D shapes")
    if len(frame) != y.size:
        raise ValueError(f"frame has {len(frame)} rows but y_true has {y.size}")
    if y.size == 0:
        raise ValueError("cannot compute fairness slices on zero rows")
    missing = [column for column in params.slices if column not in frame.columns]
    if missing:
        raise DataError(
            f"review.fairness.slices names column(s) {', '.join(map(repr, missing))} that the "
            f"credit data lacks; columns there: {', '.join(map(str, frame.columns))}"
        )
    score = METRICS[params.metric]
    overall = score(y, pred)
    results: list[SliceResult] = []
    for column in params.slices:
        values = frame[column].astype("string").fillna(MISSING).to_numpy()
        names, sizes = np.unique(values, return_counts=True)
        for name in [str(n) for _, n in sorted(zip(-sizes, names, strict=True))]:
            rows = values == name
            metric = score(y[rows], pred[rows])
            gap = overall - metric
            size = int(rows.sum())
            flagged = bool(gap > params.max_gap and size >= params.min_slice_size)
            results.append(SliceResult(column, name, size, metric, gap, flagged))
    return FairnessReport(
        metric=params.metric,
        overall=overall,
        rows=int(y.size),
        max_gap=params.max_gap,
        min_slice_size=params.min_slice_size,
        slices=tuple(results),
    )
