"""The compiled XGBoost regression: XGBoost's score to the bit, its Saabas parts to 1e-5."""

from __future__ import annotations

import numpy as np
import pytest
from xgboost import DMatrix, XGBClassifier, XGBRegressor

from models.compiled_trees import CompiledTrees, NotCompilable


def _data(seed: int = 0, rows: int = 600, columns: int = 12):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, columns))
    y = np.clip(np.round(1.5 * X[:, 0] + X[:, 1] + rng.normal(size=rows) + 2.5), 0, 5)
    X[rng.random(X.shape) < 0.05] = np.nan
    return X, y, rng


@pytest.fixture(scope="module")
def regression():
    X, y, rng = _data()
    model = XGBRegressor(n_estimators=60, max_depth=4, learning_rate=0.1, subsample=0.8,
                         colsample_bytree=0.8, max_bin=64, n_jobs=1, random_state=0)  # fmt: skip
    model.fit(X, y, sample_weight=rng.random(len(y)) + 0.5)
    return model, X


def test_given_a_regression_with_missing_values_when_compiled_then_scores_equal_bit_for_bit(
    regression,
):
    model, X = regression
    compiled = CompiledTrees.from_booster(model.get_booster())
    assert np.array_equal(compiled.predict(X), model.predict(X))
    assert np.array_equal(compiled.predict(X[:1]), model.predict(X[:1]))


def test_given_a_regression_when_compiled_then_saabas_parts_match_xgboost_and_add_up(regression):
    model, X = regression
    compiled = CompiledTrees.from_booster(model.get_booster())
    native = model.get_booster().predict(DMatrix(X), pred_contribs=True, approx_contribs=True)
    score, parts = compiled.predict_with_contributions(X)
    assert parts.shape == (len(X), X.shape[1] + 1)
    assert np.abs(parts - native).max() < 1e-5
    assert np.abs(parts.sum(axis=1) - score).max() < 1e-4
    assert np.array_equal(compiled.contributions(X), parts)


def test_given_the_wrong_number_of_columns_when_predicting_then_it_says_how_many(regression):
    model, X = regression
    compiled = CompiledTrees.from_booster(model.get_booster())
    with pytest.raises(ValueError, match="expected 12 columns"):
        compiled.predict(X[:, :5])


def test_given_a_multiclass_model_when_compiled_then_it_is_refused():
    X, y, _ = _data(rows=200)
    model = XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(X, y.astype(int))
    with pytest.raises(NotCompilable, match="single-output|transforms"):
        CompiledTrees.from_booster(model.get_booster())


def test_given_a_dart_booster_when_compiled_then_it_is_refused():
    X, y, _ = _data(rows=200)
    model = XGBRegressor(booster="dart", n_estimators=5, max_depth=2, n_jobs=1).fit(X, y)
    with pytest.raises(NotCompilable, match="gbtree"):
        CompiledTrees.from_booster(model.get_booster())
