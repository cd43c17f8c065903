"""Cross-validation folds grouped by company, checked before any model sees them.

The thesis split rows at random, so one company's ratings sat on both sides of the
split and the test score rewarded memorising companies. Here every company's rows fall
in one validation fold only, and each training fold is checked to hold enough rows of
every band for SMOTE, so a bad split fails up front with a message, not mid-tuning.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from pipelines.credit.rating_bands import BANDS
from senim.errors import DataError

Fold = tuple[np.ndarray, np.ndarray]


def grouped_folds(
    y: Sequence[int] | np.ndarray,
    groups: Sequence[object] | np.ndarray,
    *,
    n_splits: int,
    seed: int,
    smote_k: int,
) -> list[Fold]:
    """``(train_idx, test_idx)`` pairs, stratified by band, with no company on both sides.

    Raises DataError when the data cannot give ``n_splits`` leak-free folds in which
    SMOTE (``smote.k_neighbors`` = ``smote_k``) can run on every training fold.
    """
    y = np.asarray(y)
    groups = np.asarray(groups)
    if y.shape[0] != groups.shape[0]:
        raise DataError(f"{y.shape[0]} band labels but {groups.shape[0]} company names")
    n_companies = np.unique(groups).size
    if n_companies < n_splits:
        raise DataError(
            f"only {n_companies} companies; cv.n_splits={n_splits} needs at least {n_splits}"
        )
    bands, counts = np.unique(y, return_counts=True)
    for band, count in zip(bands, counts, strict=True):
        if count <= smote_k:
            raise DataError(
                f"band {BANDS[int(band)]} has {count} rows; SMOTE with "
                f"smote.k_neighbors={smote_k} needs more than {smote_k} in every training "
                "fold: lower smote.k_neighbors or add rated companies in that band"
            )
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    folds = [
        (np.asarray(train, dtype=np.int64), np.asarray(test, dtype=np.int64))
        for train, test in splitter.split(np.zeros((y.shape[0], 1)), y, groups)
    ]
    assert_no_company_leak(folds, groups)
    for number, (train, test) in enumerate(folds):
        train_counts = dict(zip(*np.unique(y[train], return_counts=True), strict=True))
        for band in bands:
            count = int(train_counts.get(band, 0))
            if count <= smote_k:
                raise DataError(
                    f"band {BANDS[int(band)]} has {count} rows in training fold {number}; "
                    f"SMOTE with smote.k_neighbors={smote_k} needs more than {smote_k}: "
                    "lower smote.k_neighbors or cv.n_splits, try another cv.seed, or add "
                    "companies in that band"
                )
        missing = sorted(set(bands.tolist()) - set(np.unique(y[test]).tolist()))
        if missing:
            warnings.warn(
                f"validation fold {number} has no rows of band(s) "
                f"{', '.join(BANDS[int(b)] for b in missing)}; its macro-F1 counts them as 0",
                stacklevel=2,
            )
    return folds


def assert_no_company_leak(folds: Sequence[Fold], groups: Sequence[object] | np.ndarray) -> None:
    """Raise DataError naming a company found in both the training and validation rows."""
    groups = np.asarray(groups)
    for number, (train, test) in enumerate(folds):
        shared = np.intersect1d(groups[train], groups[test])
        if shared.size:
            raise DataError(
                f"company {str(shared[0])!r} is in both the training and validation rows of fold "
                f"{number} ({shared.size} companies leak)"
            )


def folds_fingerprint(folds: Sequence[Fold]) -> str:
    """sha256 of the fold indices: equal fingerprints mean models met the same folds."""
    digest = hashlib.sha256()
    digest.update(f"folds:{len(folds)}".encode())
    for train, test in folds:
        for part in (train, test):
            indices = np.asarray(part, dtype="<i8")
            digest.update(f"|{indices.size}|".encode())
            digest.update(indices.tobytes())
    return digest.hexdigest()
