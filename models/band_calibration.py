"""Calibrated band probabilities for any band model, fitted on out-of-fold scores.

Every candidate reduces to one score per row: the ordinal model's regression score, or a
classifier's expected band code. ``CalibratedBands`` learns ``P(band | score)`` with a
cubic spline basis and a multinomial logistic regression, fitted on scores the model
gave rows it did not train on (inner folds grouped by company, so a company's other
ratings never vouch for it). The model's own decision rule still picks the band; only
the probabilities, and the 0-100 score built from them, change.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import SplineTransformer


def band_signal(estimator, X, band_codes: np.ndarray) -> np.ndarray:
    """The model's score per row: its own ``band_signal`` or the expected band code."""
    if hasattr(estimator, "band_signal"):
        return estimator.band_signal(X)
    proba = np.asarray(estimator.predict_proba(X), dtype=float)
    return proba @ band_codes[np.asarray(estimator.classes_, dtype=int)].astype(float)


def fit_on_codes(estimator, X, y: np.ndarray, sample_weight=None):
    """Fit ``estimator`` on band codes; returns it and the codes its classes stand for.

    An ordinal model (one with ``band_signal``) sees the codes themselves, distances
    intact. A classifier whose training rows miss a band sees the codes renumbered
    0..k-1 (XGBoost requires it); the returned array maps its classes back.
    """
    y = np.asarray(y, dtype=int)
    if hasattr(estimator, "band_signal"):
        estimator.fit(X, y, sample_weight=sample_weight)
        return estimator, np.asarray(estimator.classes_, dtype=int)
    present, encoded = np.unique(y, return_inverse=True)
    estimator.fit(X, encoded, sample_weight=sample_weight)
    return estimator, present


def _inner_folds(y: np.ndarray, groups, n_splits: int, seed: int):
    with warnings.catch_warnings():
        # "The least populated class in y has only k members": rare bands, expected.
        warnings.simplefilter("ignore", UserWarning)
        if groups is not None:
            splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
            return list(splitter.split(np.zeros(len(y)), y, groups))
        splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(len(y)), y))


class CalibratedBands(ClassifierMixin, BaseEstimator):
    """``estimator``'s bands with probabilities calibrated on its inner-fold scores."""

    def __init__(
        self,
        estimator=None,
        n_bands: int = 6,
        inner_splits: int = 4,
        n_knots: int = 6,
        seed: int = 0,
    ) -> None:
        self.estimator = estimator
        self.n_bands = n_bands
        self.inner_splits = inner_splits
        self.n_knots = n_knots
        self.seed = seed

    def fit(self, X, y, groups=None, sample_weight=None) -> CalibratedBands:
        """``groups`` (the company of each row) keeps a company inside one inner fold."""
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=int)
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        signal = np.empty(len(y))
        for train, test in _inner_folds(y, groups, self.inner_splits, self.seed):
            fitted, codes = fit_on_codes(
                clone(self.estimator), X[train], y[train], _take(weights, train)
            )
            signal[test] = band_signal(fitted, X[test], codes)
        self.calibrator_ = make_pipeline(
            SplineTransformer(n_knots=self.n_knots, degree=3, extrapolation="constant"),
            LogisticRegression(C=1.0, max_iter=2000),
        ).fit(signal[:, None], y)
        self.estimator_, self.band_codes_ = fit_on_codes(clone(self.estimator), X, y, weights)
        self.classes_ = np.arange(self.n_bands)
        self.n_features_in_ = X.shape[1]
        return self

    def signal(self, X) -> np.ndarray:
        return band_signal(self.estimator_, X, self.band_codes_)

    def proba_from_signal(self, signal: np.ndarray) -> np.ndarray:
        """``(n, n_bands)`` calibrated probabilities for scores; a band the calibration
        data never held gets 0."""
        raw = self.calibrator_.predict_proba(np.asarray(signal, dtype=float).reshape(-1, 1))
        proba = np.zeros((raw.shape[0], self.n_bands))
        proba[:, np.asarray(self.calibrator_.classes_, dtype=int)] = raw
        return proba

    def predict_proba(self, X) -> np.ndarray:
        return self.proba_from_signal(self.signal(X))

    def predict(self, X) -> np.ndarray:
        return self.band_codes_[np.asarray(self.estimator_.predict(X), dtype=int)]

    def uncalibrated_proba(self, X) -> np.ndarray:
        """The model's own probabilities by band code: the "before" of calibration."""
        raw = np.asarray(self.estimator_.predict_proba(X), dtype=float)
        proba = np.zeros((raw.shape[0], self.n_bands))
        proba[:, self.band_codes_[np.asarray(self.estimator_.classes_, dtype=int)]] = raw
        return proba


def _take(weights, rows):
    return None if weights is None else weights[rows]
