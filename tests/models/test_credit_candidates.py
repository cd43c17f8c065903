"""The candidate pipelines: shape of their output, preprocessing, names, importances."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest
from imblearn.over_sampling import SMOTE
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from models.band_calibration import CalibratedBands
from models.credit_candidates import (
    CLASS_WEIGHT,
    FAMILIES,
    baseline_grid,
    build_pipeline,
    build_thesis_pipeline,
    feature_importance,
    feature_names_out,
    fit_params,
    model_kwargs,
    suggest_hyperparams,
)
from models.credit_features import RATING_YEAR
from pipelines.credit.schema import (
    AGENCY,
    MODEL_COLUMNS,
    RATIO_COLUMNS,
    SECTOR,
    thesis_recipe,
)
from senim.config import BaselineParams, FeatureParams
from tests.models.credit_matrix import BAND, RECIPE, credit_matrix

SMALL_HYPERPARAMS = {
    "logistic_regression": {"C": 1.0},
    "decision_tree": {"max_depth": 5},
    "random_forest": {"n_estimators": 30, "max_depth": 6},
    "xgboost": {"n_estimators": 30, "max_depth": 3},
    "ordinal_xgboost": {"n_estimators": 60, "max_depth": 3},
}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return credit_matrix(60, seed=0)


def _fitted(family: str, table: pd.DataFrame):
    pipeline = build_pipeline(family, SMALL_HYPERPARAMS[family], recipe=RECIPE, seed=0)
    return pipeline.fit(table[list(MODEL_COLUMNS)], table[BAND].to_numpy())


@pytest.fixture(scope="module")
def fitted(table):
    return {family: _fitted(family, table) for family in FAMILIES}


@pytest.mark.parametrize("family", FAMILIES)
def test_given_each_family_when_fitted_then_it_predicts_six_band_probabilities(
    family, table, fitted
):
    features = table[list(MODEL_COLUMNS)]
    assert features.isna().any().any(), "the fixture must exercise the imputer"
    proba = fitted[family].predict_proba(features)
    assert proba.shape == (len(table), 6)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert list(fitted[family].classes_) == [0, 1, 2, 3, 4, 5]
    assert (fitted[family].predict(features) == table[BAND]).mean() > 0.5


@pytest.mark.parametrize("family", FAMILIES)
def test_given_each_family_when_built_then_only_logistic_regression_scales_signed_logs(family):
    pipeline = build_pipeline(family, {}, recipe=RECIPE, seed=1)
    assert [name for name, _ in pipeline.steps] == ["preprocess", "model"]
    transformers = {name: step for name, step, _ in pipeline.named_steps["preprocess"].transformers}
    assert set(transformers) == {"ratios", "categories", "rating_year"}
    ratio_steps = dict(transformers["ratios"].steps)
    has_scaler = any(isinstance(step, StandardScaler) for step in ratio_steps.values())
    has_log = any(isinstance(step, FunctionTransformer) for step in ratio_steps.values())
    assert has_scaler == has_log == (family == "logistic_regression")
    assert ratio_steps["impute"].n_neighbors == RECIPE.knn_neighbors


def test_given_ratio_transform_none_then_logistic_regression_scales_raw_ratios():
    recipe = type(RECIPE)(RECIPE.columns, RECIPE.knn_neighbors, "none")
    pipeline = build_pipeline("logistic_regression", {}, recipe=recipe, seed=0)
    ratio_steps = dict(pipeline.named_steps["preprocess"].transformers[0][1].steps)
    assert list(ratio_steps) == ["impute", "scale"]


def test_given_the_thesis_recipe_then_smote_sits_between_preprocess_and_xgboost():
    pipeline = build_thesis_pipeline({}, recipe=thesis_recipe(FeatureParams()), smote_k=2, seed=1)
    assert [name for name, _ in pipeline.steps] == ["preprocess", "smote", "model"]
    smote = pipeline.named_steps["smote"]
    assert isinstance(smote, SMOTE) and smote.k_neighbors == 2 and smote.random_state == 1
    read = [cols for _, _, cols in pipeline.named_steps["preprocess"].transformers]
    assert read == [list(RATIO_COLUMNS), [SECTOR]]


def test_given_an_unknown_family_when_building_then_error_lists_the_families():
    with pytest.raises(ValueError, match="expected one of logistic_regression"):
        build_pipeline("svm", {}, recipe=RECIPE, seed=0)


def test_given_a_fitted_pipeline_then_feature_names_are_ratios_categories_then_year(table, fitted):
    names = feature_names_out(fitted["decision_tree"])
    assert names[: len(RATIO_COLUMNS)] == list(RATIO_COLUMNS)
    sectors = [f"Sector={s}" for s in sorted(table[SECTOR].unique())]
    agencies = [f"{AGENCY}={a}" for a in sorted(table[AGENCY].unique())]
    assert names[len(RATIO_COLUMNS) :] == [*sectors, *agencies, RATING_YEAR]
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
    assert hyperparams[CLASS_WEIGHT] in (None, "balanced")
    pipeline = build_pipeline(family, hyperparams, recipe=RECIPE, seed=0)
    model_params = pipeline.named_steps["model"].get_params()
    assert all(model_params[key] == value for key, value in model_kwargs(hyperparams).items())
    assert CLASS_WEIGHT not in model_kwargs(hyperparams)


def test_given_balanced_class_weight_then_fit_params_weight_rows_and_pass_groups():
    y = np.array([0, 0, 0, 1])
    params = fit_params({CLASS_WEIGHT: "balanced"}, y, groups=np.array(["a", "a", "b", "c"]))
    np.testing.assert_allclose(params["model__sample_weight"], [2 / 3, 2 / 3, 2 / 3, 2.0])
    assert list(params["model__groups"]) == ["a", "a", "b", "c"]
    assert fit_params({}, y) == {}


def test_given_calibrated_when_built_then_the_model_is_wrapped_with_its_inner_folds(table):
    pipeline = build_pipeline(
        "ordinal_xgboost", SMALL_HYPERPARAMS["ordinal_xgboost"], recipe=RECIPE, seed=3,
        calibrated=True, inner_splits=3,
    )  # fmt: skip
    model = pipeline.named_steps["model"]
    assert isinstance(model, CalibratedBands) and model.inner_splits == 3 and model.seed == 3
    y = table[BAND].to_numpy()
    pipeline.fit(
        table[list(MODEL_COLUMNS)], y, **fit_params({}, y, groups=table["Name"].to_numpy())
    )
    proba = pipeline.predict_proba(table[list(MODEL_COLUMNS)])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)


def test_given_baseline_params_when_gridding_then_keys_address_the_model_step():
    grid = baseline_grid(BaselineParams(max_depth=[3], learning_rate=[0.1], n_estimators=[50]))
    assert grid == {
        "model__max_depth": [3],
        "model__learning_rate": [0.1],
        "model__n_estimators": [50],
    }
    pipeline = build_thesis_pipeline({}, recipe=thesis_recipe(FeatureParams()), smote_k=5, seed=0)
    pipeline.set_params(**{key: values[0] for key, values in grid.items()})
    assert pipeline.named_steps["model"].max_depth == 3
