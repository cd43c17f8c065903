"""The compiled ordinal band model gives the registered model's own numbers."""

from __future__ import annotations

import numpy as np
import pytest
from xgboost import XGBClassifier

from models.band_calibration import CalibratedBands
from models.compiled_bands import CompiledBandModel
from models.compiled_trees import NotCompilable
from models.ordinal_bands import OrdinalBandRegressor


def _bands(seed: int = 0, rows: int = 500):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 8))
    y = np.clip(np.round(1.2 * X[:, 0] + 0.8 * X[:, 1] + rng.normal(size=rows) * 0.7 + 2.5),
                0, 5).astype(int)  # fmt: skip
    return X, y, rng.integers(0, 120, size=rows)


def test_given_a_calibrated_ordinal_model_when_compiled_then_bands_and_probabilities_equal():
    X, y, companies = _bands()
    model = CalibratedBands(OrdinalBandRegressor(n_estimators=40, max_depth=3), inner_splits=3)
    model.fit(X, y, groups=companies)
    compiled = CompiledBandModel.compile(model)
    scores = compiled.score(X, contributions=True)
    assert np.array_equal(scores.band_codes, model.predict(X))
    assert np.array_equal(scores.proba, model.predict_proba(X))
    assert np.array_equal(scores.signal, model.signal(X))
    assert scores.contributions.shape == (len(X), X.shape[1] + 1)


def test_given_signals_beyond_the_calibration_knots_then_the_edges_match_sklearn():
    X, y, companies = _bands(seed=1)
    model = CalibratedBands(OrdinalBandRegressor(n_estimators=20, max_depth=3), inner_splits=3)
    model.fit(X, y, groups=companies)
    compiled = CompiledBandModel.compile(model)
    far = np.array([-40.0, -2.0, 0.0, 2.5, 5.0, 9.0, 40.0])
    assert np.array_equal(compiled.proba_from_signal(far), model.proba_from_signal(far))


def test_given_an_uncalibrated_ordinal_model_when_compiled_then_its_own_probabilities_equal():
    X, y, _ = _bands(seed=2)
    model = OrdinalBandRegressor(n_estimators=30, max_depth=3).fit(X, y)
    compiled = CompiledBandModel.compile(model)
    scores = compiled.score(X)
    assert np.array_equal(scores.band_codes, model.predict(X))
    assert np.allclose(scores.proba, model.predict_proba(X), rtol=0, atol=1e-12)
    assert scores.contributions is None


def test_given_a_classifier_when_compiled_then_it_is_refused_by_name():
    X, y, _ = _bands(seed=3, rows=200)
    with pytest.raises(NotCompilable, match="XGBClassifier"):
        CompiledBandModel.compile(XGBClassifier(n_estimators=3).fit(X, y))
