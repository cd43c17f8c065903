"""The four candidate pipelines: shape of their output, preprocessing, names, importances."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest
from imblearn.over_sampling import SMOTE
from sklearn.preprocessing import StandardScaler

from models.credit_candidates import (
    FAMILIES,
    baseline_grid,
    build_pipeline,
    feature_importance,
    feature_names_out,
    suggest_hyperparams,
)
from pipelines.credit.schema import FEATURE_COLUMNS, MODEL_INPUTS, RATIO_COLUMNS, SECTOR
from senim.config import BaselineParams
from tests.models.credit_matrix import BAND, credit_matrix

SMALL_HYPERPARAMS = {
    "logistic_regression": {"C": 1.0},
    "decision_tree": {"max_depth": 5},
    "random_forest": {"n_estimators": 30, "max_depth": 6},
    "xgboost": {"n_estimators": 30, "max_depth": 3},
}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return credit_matrix(60, seed=0)


def _fitted(family: str, table: pd.DataFrame):
    pipeline = build_pipeline(
        family, SMALL_HYPERPARAMS[family], columns=MODEL_INPUTS, knn_neighbors=5, smote_k=3, seed=0
    )
    return pipeline.fit(table[list(FEATURE_COLUMNS)], table[BAND].to_numpy())


@pytest.fixture(scope="module")
def fitted(table):
    return {family: _fitted(family, table) for family in FAMILIES}


@pytest.mark.parametrize("family", FAMILIES)
def test_given_each_family_when_fitted_then_it_predicts_six_band_probabilities(
    family, table, fitted
):
    features = table[list(FEATURE_COLUMNS)]
    assert features.isna().any().any(), "the fixture must exercise the imputer"
    proba = fitted[family].predict_proba(features)
    assert proba.shape == (len(table), 6)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert list(fitted[family].classes_) == [0, 1, 2, 3, 4, 5]
    assert (fitted[family].predict(features) == table[BAND]).mean() > 0.5


@pytest.mark.parametrize("family", FAMILIES)
def test_given_each_family_when_built_then_only_logistic_regression_scales_ratios(family):
    pipeline = build_pipeline(family, {}, columns=MODEL_INPUTS, knn_neighbors=4, smote_k=2, seed=1)
    assert [name for name, _ in pipeline.steps] == ["preprocess", "smote", "model"]
    ratio_steps = dict(pipeline.named_steps["preprocess"].transformers[0][1].steps)
    has_scaler = any(isinstance(step, StandardScaler) for step in ratio_steps.values())
    assert has_scaler == (family == "logistic_regression")
    assert ratio_steps["impute"].n_neighbors == 4
    smote = pipeline.named_steps["smote"]
    assert isinstance(smote, SMOTE) and smote.k_neighbors == 2 and smote.random_state == 1


def test_given_an_unknown_family_when_building_then_error_lists_the_families():
    with pytest.raises(ValueError, match="expected one of logistic_regression"):
        build_pipeline("svm", {}, columns=MODEL_INPUTS, knn_neighbors=5, smote_k=5, seed=0)


def test_given_a_fitted_pipeline_then_feature_names_are_ratios_then_sectors(table, fitted):
    names = feature_names_out(fitted["decision_tree"])
    assert names[: len(RATIO_COLUMNS)] == list(RATIO_COLUMNS)
    sectors = sorted(table[SECTOR].unique())
    assert names[len(RATIO_COLUMNS) :] == [f"Sector={s}" for s in sectors]
    assert len(names) == fitted["decision_tree"].named_steps["model"].n_features_in_


@pytest.mark.parametrize("family", FAMILIES)
def test_given_a_fitted_pipeline_then_importance_covers_every_feature_sorted(family, fitted):
    importance = feature_importance(fitted[family])
    assert importance.is_monotonic_decreasing
    assert set(importance.index) == set(feature_names_out(fitted[family]))
    assert (importance >= 0).all() and importance.max() > 0
    if family != "logistic_regression":
        assert importance.sum() == pytest.approx(1.0, abs=1e-5)
    # the synthetic band is driven by the ratios, never by the sector
    assert importance.index[0] in RATIO_COLUMNS


@pytest.mark.parametrize("family", FAMILIES)
def test_given_a_trial_when_suggesting_then_the_pipeline_accepts_the_hyperparams(family):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    hyperparams = suggest_hyperparams(family, study.ask())
    assert hyperparams
    pipeline = build_pipeline(
        family, hyperparams, columns=MODEL_INPUTS, knn_neighbors=5, smote_k=5, seed=0
    )
    model_params = pipeline.named_steps["model"].get_params()
    assert all(model_params[key] == value for key, value in hyperparams.items())


def test_given_baseline_params_when_gridding_then_keys_address_the_model_step():
    grid = baseline_grid(BaselineParams(max_depth=[3], learning_rate=[0.1], n_estimators=[50]))
    assert grid == {
        "model__max_depth": [3],
        "model__learning_rate": [0.1],
        "model__n_estimators": [50],
    }
    pipeline = build_pipeline(
        "xgboost", {}, columns=MODEL_INPUTS, knn_neighbors=5, smote_k=5, seed=0
    )
    pipeline.set_params(**{key: values[0] for key, values in grid.items()})
    assert pipeline.named_steps["model"].max_depth == 3
