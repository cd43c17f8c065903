"""Score out-of-fold band probabilities the way reviewers and credit officers read them.

Every function takes true band codes (0 = Junk .. 5 = A+, see ``rating_bands``), an
``(n_rows, 6)`` probability matrix whose column k is band code k, and optionally the
band the model named for each row (``bands``; default the most likely band: the ordinal
model names the band its score falls in, which need not be the most likely). Labels are
always all six bands, so a fold that misses a band still yields metrics comparable
across models. Tables list bands best first (A+ .. Junk), the order a credit officer
reads a scale in.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)

from pipelines.common.confidence_intervals import Interval, fold_metric_spread
from pipelines.credit.rating_bands import BANDS

N_BANDS = len(BANDS)
LABELS: tuple[int, ...] = tuple(range(N_BANDS))
BANDS_BEST_FIRST: tuple[str, ...] = tuple(reversed(BANDS))
_BEST_FIRST_CODES = list(reversed(LABELS))
_LOG_LOSS_EPS = 1e-15


def _check_inputs(y_true: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validated integer codes and row-normalised probabilities, or a ValueError saying why."""
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"y_true must be 1-D band codes, got shape {y.shape}")
    if y.size and not np.all(np.equal(np.mod(y, 1), 0)):
        raise ValueError("y_true must hold integer band codes 0..5")
    y = y.astype(int)
    if y.size and (y.min() < 0 or y.max() >= N_BANDS):
        raise ValueError(f"y_true holds codes outside 0..{N_BANDS - 1}: {sorted(set(y.tolist()))}")
    p = _check_proba(proba)
    if p.shape[0] != y.shape[0]:
        raise ValueError(f"y_true has {y.shape[0]} rows but proba has {p.shape[0]}")
    if y.size == 0:
        raise ValueError("cannot score zero rows")
    return y, p


def _check_proba(proba: np.ndarray) -> np.ndarray:
    p = np.atleast_2d(np.asarray(proba, dtype=float))
    if p.ndim != 2 or p.shape[1] != N_BANDS:
        raise ValueError(f"proba must have shape (n_rows, {N_BANDS}), got {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("proba must be finite and non-negative")
    sums = p.sum(axis=1, keepdims=True)
    if np.any(sums <= 0):
        raise ValueError("every proba row must have positive mass")
    return p / sums


def _roc_auc_ovr_present(y: np.ndarray, p: np.ndarray) -> float:
    """Macro one-vs-rest AUC over the bands present in y; NaN when fewer than two are."""
    present = np.unique(y)
    if present.size < 2:
        return math.nan
    return float(np.mean([roc_auc_score(y == k, p[:, k]) for k in present]))


def _named_bands(p: np.ndarray, bands: np.ndarray | None) -> np.ndarray:
    if bands is None:
        return p.argmax(axis=1)
    named = np.asarray(bands)
    if named.shape != (p.shape[0],):
        raise ValueError(f"bands must have one code per row ({p.shape[0]}), got {named.shape}")
    if named.size and (named.min() < 0 or named.max() >= N_BANDS):
        raise ValueError(f"bands holds codes outside 0..{N_BANDS - 1}")
    return named.astype(int)


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, bands: np.ndarray | None = None
) -> dict[str, float]:
    """The metrics logged to MLflow for one model; ``bands`` the model's own (argmax
    when not given). Calibration is of the probability given to the named band."""
    y, p = _check_inputs(y_true, proba)
    pred = _named_bands(p, bands)
    macro = precision_recall_fscore_support(
        y, pred, labels=list(LABELS), average="macro", zero_division=0
    )
    weighted = precision_recall_fscore_support(
        y, pred, labels=list(LABELS), average="weighted", zero_division=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
        balanced = balanced_accuracy_score(y, pred)
    clipped = np.clip(p, _LOG_LOSS_EPS, 1.0)
    clipped /= clipped.sum(axis=1, keepdims=True)
    band_error = np.abs(pred - y)
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "balanced_accuracy": float(balanced),
        "macro_precision": float(macro[0]),
        "macro_recall": float(macro[1]),
        "macro_f1": float(macro[2]),
        "weighted_precision": float(weighted[0]),
        "weighted_recall": float(weighted[1]),
        "weighted_f1": float(weighted[2]),
        "roc_auc_ovr": _roc_auc_ovr_present(y, p),
        "log_loss": float(log_loss(y, clipped, labels=list(LABELS))),
        "mean_abs_band_error": float(band_error.mean()),
        "within_one_band_accuracy": float((band_error <= 1).mean()),
        "expected_calibration_error": _ece(y, p, pred),
    }


def per_band_report(
    y_true: np.ndarray, proba: np.ndarray, bands: np.ndarray | None = None
) -> pd.DataFrame:
    """Precision, recall, F1 and support per band, best band first."""
    y, p = _check_inputs(y_true, proba)
    precision, recall, f1, support = precision_recall_fscore_support(
        y, _named_bands(p, bands), labels=_BEST_FIRST_CODES, average=None, zero_division=0
    )
    return pd.DataFrame(
        {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(int)},
        index=pd.Index(BANDS_BEST_FIRST, name="band"),
    )


def confusion(
    y_true: np.ndarray, proba: np.ndarray, bands: np.ndarray | None = None
) -> pd.DataFrame:
    """6x6 counts: rows the true band, columns the predicted band, both best first."""
    y, p = _check_inputs(y_true, proba)
    counts = confusion_matrix(y, _named_bands(p, bands), labels=_BEST_FIRST_CODES)
    return pd.DataFrame(
        counts,
        index=pd.Index(BANDS_BEST_FIRST, name="true"),
        columns=pd.Index(BANDS_BEST_FIRST, name="predicted"),
    )


def calibration_table(
    y_true: np.ndarray, proba: np.ndarray, n_bins: int = 10, bands: np.ndarray | None = None
) -> pd.DataFrame:
    """Reliability of the named band: per equal-width bin of the probability the model gave
    the band it named (the confidence a caller sees), how often that band was right.

    All bins are listed so plots share an axis; empty bins have count 0 and NaN rates.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    y, p = _check_inputs(y_true, proba)
    pred = _named_bands(p, bands)
    confidence = p[np.arange(len(pred)), pred]
    correct = (pred == y).astype(float)
    bin_of_row = np.clip(np.floor(confidence * n_bins).astype(int), 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        in_bin = bin_of_row == b
        count = int(in_bin.sum())
        rows.append(
            {
                "bin": b,
                "lower": b / n_bins,
                "upper": (b + 1) / n_bins,
                "mean_confidence": float(confidence[in_bin].mean()) if count else math.nan,
                "accuracy": float(correct[in_bin].mean()) if count else math.nan,
                "count": count,
            }
        )
    return pd.DataFrame(rows)


def _ece(y: np.ndarray, p: np.ndarray, bands: np.ndarray | None = None, n_bins: int = 10) -> float:
    table = calibration_table(y, p, n_bins=n_bins, bands=bands)
    filled = table[table["count"] > 0]
    gaps = (filled["accuracy"] - filled["mean_confidence"]).abs()
    return float((gaps * filled["count"]).sum() / filled["count"].sum())


def score_from_proba(proba: np.ndarray) -> np.ndarray:
    """The 0-100 credit score: ``100 * sum_k p_k * k / 5``, the expected band code rescaled.

    0 means certainly Junk, 100 certainly A+, a uniform row 50. Moving probability mass
    to a better band never lowers the score, so the score ranks as the bands do.
    Rows are renormalised first; one row of six may be passed as a 1-D array.
    """
    p = _check_proba(proba)
    return 100.0 * (p @ np.arange(N_BANDS, dtype=float)) / (N_BANDS - 1)


def credit_fold_intervals(
    y: np.ndarray,
    proba: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    bands: np.ndarray | None = None,
) -> dict[str, Interval]:
    """Per metric of ``classification_metrics``: mean over folds ± 95% t-interval.

    Each fold's metric is computed on its validation rows of the out-of-fold ``proba``;
    a metric that is NaN in some fold (AUC with one band present) is left out.
    """
    if not folds:
        raise ValueError("folds is empty: need at least one (train, test) fold")
    y = np.asarray(y)
    proba = np.asarray(proba)
    named = None if bands is None else np.asarray(bands)
    per_fold = [
        classification_metrics(y[test], proba[test], None if named is None else named[test])
        for _, test in folds
    ]
    intervals: dict[str, Interval] = {}
    for name in per_fold[0]:
        values = [scores[name] for scores in per_fold]
        if not all(math.isfinite(value) for value in values):
            continue
        spread = fold_metric_spread(values)
        intervals[name] = Interval(
            spread["mean"], spread["ci_low"], spread["ci_high"], f"t over {len(folds)} folds"
        )
    return intervals
