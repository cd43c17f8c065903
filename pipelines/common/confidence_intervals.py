"""95% confidence intervals for the metrics a model card reports.

Credit metrics come from company-grouped CV, so their spread is the spread over folds: a
Student-t interval on the per-fold values (``fold_metric_spread``, the one
implementation). The emotion model is scored once on PublicTest, so its interval comes
from a seeded percentile bootstrap over those images: the same seed gives the same
interval, which a reviewer can reproduce.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A point estimate and its 95% interval; ``method`` says how it was obtained."""

    estimate: float
    low: float
    high: float
    method: str


def fold_metric_spread(fold_scores: list[float]) -> dict[str, float]:
    """Mean, sample std and a 95% Student-t interval of one metric across CV folds.

    With one fold the spread is unknown, so std and the interval are NaN.
    """
    scores = np.asarray(fold_scores, dtype=float)
    if scores.size == 0:
        raise ValueError("fold_scores is empty: need at least one fold's score")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"fold_scores must be finite, got {scores.tolist()}")
    n = scores.size
    mean = float(scores.mean())
    std = float(scores.std(ddof=1)) if n > 1 else math.nan
    half_width = float(stats.t.ppf(0.975, df=n - 1)) * std / math.sqrt(n) if n > 1 else math.nan
    return {
        "mean": mean,
        "std": std,
        "n": float(n),
        "ci_low": mean - half_width,
        "ci_high": mean + half_width,
    }


def _accuracy(confusion: np.ndarray) -> np.ndarray:
    """Accuracy of each of a stack of confusion matrices ``(n, k, k)``."""
    return np.trace(confusion, axis1=1, axis2=2) / confusion.sum(axis=(1, 2))


def _macro_f1(confusion: np.ndarray) -> np.ndarray:
    """Macro-F1 over all k classes, a class with no true or predicted image scoring 0
    (sklearn's ``zero_division=0``), of each of a stack of confusion matrices."""
    tp = np.diagonal(confusion, axis1=1, axis2=2).astype(float)
    denominator = confusion.sum(axis=2) + confusion.sum(axis=1)  # 2tp + fn + fp
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return f1.mean(axis=1)


BOOTSTRAP_METRICS = {"accuracy": _accuracy, "macro_f1": _macro_f1}


def bootstrap_intervals(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    n_classes: int,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Interval]:
    """Accuracy and macro-F1 with 95% percentile intervals from ``n_resamples`` seeded
    resamples (with replacement) of the scored images."""
    y = np.asarray(y_true, dtype=np.int64)
    pred = np.asarray(y_pred, dtype=np.int64)
    if y.ndim != 1 or y.shape != pred.shape:
        raise ValueError(f"y_true {y.shape} and y_pred {pred.shape} must be equal 1-D shapes")
    if y.size == 0:
        raise ValueError("y_true is empty: cannot bootstrap zero images")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    for name, values in (("y_true", y), ("y_pred", pred)):
        if values.min() < 0 or values.max() >= n_classes:
            raise ValueError(f"{name} holds labels outside 0..{n_classes - 1}")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, y.size, size=(n_resamples, y.size))
    cells = y[picks] * n_classes + pred[picks]
    offsets = np.arange(n_resamples)[:, None] * n_classes * n_classes
    confusions = np.bincount(
        (cells + offsets).ravel(), minlength=n_resamples * n_classes * n_classes
    ).reshape(n_resamples, n_classes, n_classes)
    observed = np.bincount(y * n_classes + pred, minlength=n_classes * n_classes).reshape(
        1, n_classes, n_classes
    )
    tail = (1 - CONFIDENCE) / 2 * 100
    method = f"bootstrap, {n_resamples} resamples, seed {seed}"
    intervals = {}
    for name, metric in BOOTSTRAP_METRICS.items():
        low, high = np.percentile(metric(confusions), [tail, 100 - tail])
        intervals[name] = Interval(float(metric(observed)[0]), float(low), float(high), method)
    return intervals
