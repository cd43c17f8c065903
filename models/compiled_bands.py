"""The ordinal band model, calibrated or not, compiled for inference.

At serving time the registered model is three scikit-learn objects deep (``CalibratedBands``
around ``OrdinalBandRegressor`` around ``XGBRegressor``), and one row pays each layer's
input checks several times over (the score is computed three times to get probabilities,
band and reason codes). The compiled form computes the score once (``CompiledTrees``,
bit for bit XGBoost's), cuts it into a band the same way, and maps it to probabilities
with the same arithmetic as the calibration's spline basis and logistic regression (or
the ordinal model's own normal residual), without the checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from models.compiled_trees import CompiledTrees, NotCompilable


@dataclass(frozen=True)
class CompiledCalibration:
    """``SplineTransformer`` (constant extrapolation) then multinomial ``LogisticRegression``."""

    spline: Any  # the transformer's own scipy BSpline (one input feature)
    degree: int
    low: float
    high: float
    edge_low: np.ndarray
    edge_high: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    classes: np.ndarray  # band codes of the regression's columns
    n_bands: int

    @classmethod
    def from_pipeline(cls, calibrator: Any, n_bands: int) -> CompiledCalibration:
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import SplineTransformer

        steps = [step for _, step in calibrator.steps]
        if len(steps) != 2:
            raise NotCompilable("the calibration is not a spline basis and a regression")
        spline, regression = steps
        if not isinstance(spline, SplineTransformer) or not isinstance(
            regression, LogisticRegression
        ):
            raise NotCompilable("the calibration is not a spline basis and a regression")
        if spline.extrapolation != "constant" or not spline.include_bias or spline.sparse_output:
            raise NotCompilable("only a dense spline basis with constant extrapolation compiles")
        if len(regression.classes_) <= 2:
            raise NotCompilable("a two-class calibration is not compiled")
        basis = spline.bsplines_[0]
        degree = int(spline.degree)
        low, high = float(basis.t[degree]), float(basis.t[-degree - 1])
        return cls(
            spline=basis,
            degree=degree,
            low=low,
            high=high,
            edge_low=basis(low)[:degree].copy(),
            edge_high=basis(high)[-degree:].copy(),
            coef=np.asarray(regression.coef_, dtype=np.float64),
            intercept=np.asarray(regression.intercept_, dtype=np.float64),
            classes=np.asarray(regression.classes_, dtype=int),
            n_bands=n_bands,
        )

    def proba(self, signal: np.ndarray) -> np.ndarray:
        from sklearn.utils.extmath import softmax

        x = np.asarray(signal, dtype=np.float64).reshape(-1)
        features = np.zeros((len(x), self.coef.shape[1]))
        inside = (self.low <= x) & (x <= self.high)
        features[inside] = self.spline(x[inside])
        features[x < self.low, : self.degree] = self.edge_low
        features[x > self.high, -self.degree :] = self.edge_high
        raw = softmax(features @ self.coef.T + self.intercept, copy=False)
        proba = np.zeros((len(x), self.n_bands))
        proba[:, self.classes] = raw
        return proba


@dataclass(frozen=True)
class BandScores:
    """One call's outputs: the score, probabilities by band code, bands, Saabas parts."""

    signal: np.ndarray
    proba: np.ndarray
    band_codes: np.ndarray
    contributions: np.ndarray | None  # (n, features + 1), bias last, in band codes


@dataclass(frozen=True)
class CompiledBandModel:
    """Band, probabilities and the score's Saabas parts of an ordinal band model."""

    trees: CompiledTrees
    n_bands: int
    residual_scale: float
    calibration: CompiledCalibration | None  # None: the ordinal model's own probabilities

    @classmethod
    def compile(cls, final: Any) -> CompiledBandModel:
        """``final``: an ``OrdinalBandRegressor``, or ``CalibratedBands`` around one."""
        from models.band_calibration import CalibratedBands
        from models.ordinal_bands import OrdinalBandRegressor

        calibration = None
        ordinal = final
        if isinstance(final, CalibratedBands):
            ordinal = final.estimator_
            if not isinstance(ordinal, OrdinalBandRegressor):
                raise NotCompilable(f"{type(ordinal).__name__} is not compiled")
            if not np.array_equal(final.band_codes_, np.arange(final.n_bands)):
                raise NotCompilable("the calibrated model renumbers its bands")
            calibration = CompiledCalibration.from_pipeline(final.calibrator_, final.n_bands)
        elif not isinstance(final, OrdinalBandRegressor):
            raise NotCompilable(f"{type(final).__name__} is not compiled")
        regressor = ordinal.regressor_
        if getattr(regressor, "best_iteration", None) is not None:
            raise NotCompilable("an early-stopped model is not compiled")
        return cls(
            trees=CompiledTrees.from_booster(regressor.get_booster()),
            n_bands=int(ordinal.n_bands),
            residual_scale=float(ordinal.residual_scale_),
            calibration=calibration,
        )

    def signal(self, X: np.ndarray) -> np.ndarray:
        """The regression's score, as ``OrdinalBandRegressor.band_signal`` gives it."""
        return self.trees.predict(X).astype(np.float64)

    def signal_with_contributions(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The score and its ``(n, features + 1)`` Saabas parts (bias last), in band codes."""
        score, parts = self.trees.predict_with_contributions(X)
        return score.astype(np.float64), parts

    def score(self, X: np.ndarray, *, contributions: bool = False) -> BandScores:
        """Everything one scoring call needs, from one walk down the trees."""
        if contributions:
            signal, parts = self.signal_with_contributions(X)
        else:
            signal, parts = self.signal(X), None
        return BandScores(signal, self.proba_from_signal(signal), self.bands(signal), parts)

    def bands(self, signal: np.ndarray) -> np.ndarray:
        return np.clip(np.floor(np.asarray(signal) + 0.5), 0, self.n_bands - 1).astype(int)

    def proba_from_signal(self, signal: np.ndarray) -> np.ndarray:
        if self.calibration is not None:
            return self.calibration.proba(signal)
        from models.ordinal_bands import normal_band_proba

        return normal_band_proba(signal, self.n_bands, self.residual_scale)
