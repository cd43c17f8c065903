"""The candidate model families, each as one scikit-learn pipeline: preprocess -> model.

The four families the mission names (logistic regression, decision tree, random forest,
XGBoost) plus ``ordinal_xgboost``, which treats the bands as ordered. Imputation,
scaling and encoding are fitted inside the pipeline, so cross-validation refits them on
training rows only. Class imbalance is handled by weighting rows (``class_weight``
"balanced", chosen by the tuning), not by SMOTE: interpolating between one-hot sector
columns invents companies that are 0.4 Energy and 0.6 Finance. The thesis's recipe
(SMOTE, plain XGBoost, ratios and sector only) is kept as ``build_thesis_pipeline`` for
the baseline it is compared with.

``calibrated`` wraps the model in ``CalibratedBands``: same bands, probabilities
calibrated on inner-fold scores (what a registered model publishes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import optuna
import pandas as pd
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline as ImbPipeline
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.class_weight import compute_sample_weight
from xgboost import XGBClassifier

from models.band_calibration import CalibratedBands
from models.credit_features import build_preprocess, output_groups
from models.credit_inputs import FeatureRecipe
from models.ordinal_bands import OrdinalBandRegressor
from senim.config import BaselineParams

FAMILIES: tuple[str, ...] = (
    "logistic_regression",
    "decision_tree",
    "random_forest",
    "xgboost",
    "ordinal_xgboost",
)
# Families whose model reads band codes as numbers (distances matter); never renumbered.
ORDINAL_FAMILIES = frozenset({"ordinal_xgboost"})
N_BANDS = 6

# Only linear models care about feature scale; trees split on ranks.
_SCALED_FAMILIES = frozenset({"logistic_regression"})
# A pipeline-level choice stored with the hyperparameters, not a model keyword.
CLASS_WEIGHT = "class_weight"


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}: expected one of {', '.join(FAMILIES)}")


def _logistic_regression(hyperparams: dict[str, Any], seed: int) -> LogisticRegression:
    # lbfgs fits a multinomial model for >2 classes (sklearn's multi_class is deprecated).
    return LogisticRegression(**{"max_iter": 3000, "random_state": seed, **hyperparams})


def _decision_tree(hyperparams: dict[str, Any], seed: int) -> DecisionTreeClassifier:
    return DecisionTreeClassifier(**{"random_state": seed, **hyperparams})


def _random_forest(hyperparams: dict[str, Any], seed: int) -> RandomForestClassifier:
    return RandomForestClassifier(**{"random_state": seed, "n_jobs": 1, **hyperparams})


def _xgboost(hyperparams: dict[str, Any], seed: int) -> XGBClassifier:
    # 64 histogram bins: ~1,000 rows fill no more, and fits run ~3x faster than 256.
    defaults = {
        "objective": "multi:softprob",
        "tree_method": "hist",
        "max_bin": 64,
        "eval_metric": "mlogloss",
        "n_jobs": 1,
        "random_state": seed,
    }
    return XGBClassifier(**{**defaults, **hyperparams})


def _ordinal_xgboost(hyperparams: dict[str, Any], seed: int) -> OrdinalBandRegressor:
    return OrdinalBandRegressor(**{"random_state": seed, "n_bands": N_BANDS, **hyperparams})


_MODEL_FACTORIES: dict[str, Callable[[dict[str, Any], int], Any]] = {
    "logistic_regression": _logistic_regression,
    "decision_tree": _decision_tree,
    "random_forest": _random_forest,
    "xgboost": _xgboost,
    "ordinal_xgboost": _ordinal_xgboost,
}


def model_kwargs(hyperparams: dict[str, Any]) -> dict[str, Any]:
    """The model's own keywords: the hyperparameters less the pipeline-level choices."""
    return {k: v for k, v in hyperparams.items() if k != CLASS_WEIGHT}


def row_weights(hyperparams: dict[str, Any], y: np.ndarray) -> np.ndarray | None:
    """Per-row weights that make every band count alike, when the recipe asks for them."""
    if hyperparams.get(CLASS_WEIGHT) == "balanced":
        return compute_sample_weight("balanced", np.asarray(y))
    return None


def build_pipeline(
    family: str,
    hyperparams: dict[str, Any],
    *,
    recipe: FeatureRecipe,
    seed: int,
    calibrated: bool = False,
    inner_splits: int = 4,
) -> Pipeline:
    """Unfitted preprocess -> model pipeline. Fit it with ``fit_params`` for the weights
    (and, when ``calibrated``, the company groups of the inner folds)."""
    _check_family(family)
    model = _MODEL_FACTORIES[family](model_kwargs(hyperparams), seed)
    if calibrated:
        model = CalibratedBands(model, n_bands=N_BANDS, inner_splits=inner_splits, seed=seed)
    preprocess = build_preprocess(recipe, scaled=family in _SCALED_FAMILIES)
    return Pipeline([("preprocess", preprocess), ("model", model)])


def fit_params(
    hyperparams: dict[str, Any], y: np.ndarray, groups: np.ndarray | None = None
) -> dict[str, Any]:
    """Keyword arguments for ``pipeline.fit``: row weights, and groups for a calibrated
    model's inner folds."""
    params: dict[str, Any] = {}
    weights = row_weights(hyperparams, y)
    if weights is not None:
        params["model__sample_weight"] = weights
    if groups is not None:
        params["model__groups"] = np.asarray(groups)
    return params


def build_thesis_pipeline(
    hyperparams: dict[str, Any], *, recipe: FeatureRecipe, smote_k: int, seed: int
) -> ImbPipeline:
    """The thesis's recipe: KNN imputation, one-hot sector, SMOTE, multiclass XGBoost."""
    return ImbPipeline(
        [
            ("preprocess", build_preprocess(recipe, scaled=False)),
            ("smote", SMOTE(k_neighbors=smote_k, random_state=seed)),
            ("model", _xgboost(dict(hyperparams), seed)),
        ]
    )


def suggest_hyperparams(family: str, trial: optuna.Trial) -> dict[str, Any]:
    """Hyperparameters for one Optuna trial; spaces sized for ~1,000 rows on two cores.

    Every family also tunes ``class_weight``: balanced row weights, or none.
    """
    _check_family(family)
    return {
        **_model_space(family, trial),
        CLASS_WEIGHT: trial.suggest_categorical(CLASS_WEIGHT, [None, "balanced"]),
    }


def _model_space(family: str, trial: optuna.Trial) -> dict[str, Any]:
    if family == "logistic_regression":
        return {"C": trial.suggest_float("C", 1e-3, 1e2, log=True)}
    if family == "decision_tree":
        return {
            "max_depth": trial.suggest_int("max_depth", 2, 12),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 30, log=True),
            "criterion": trial.suggest_categorical("criterion", ["gini", "entropy"]),
        }
    if family == "random_forest":
        return {
            "n_estimators": trial.suggest_int("n_estimators", 50, 300, step=25),
            "max_depth": trial.suggest_int("max_depth", 3, 16),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 10),
            "max_features": trial.suggest_float("max_features", 0.2, 0.8),
        }
    if family == "ordinal_xgboost":
        return {
            "n_estimators": trial.suggest_int("n_estimators", 100, 600, step=50),
            "max_depth": trial.suggest_int("max_depth", 2, 6),
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
            "subsample": trial.suggest_float("subsample", 0.6, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
            "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 10.0, log=True),
        }
    return {
        "n_estimators": trial.suggest_int("n_estimators", 50, 300, step=25),
        "max_depth": trial.suggest_int("max_depth", 2, 8),
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
        "subsample": trial.suggest_float("subsample", 0.6, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
        "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 10.0, log=True),
    }


def baseline_grid(baseline: BaselineParams) -> dict[str, list[Any]]:
    """The thesis's XGBoost grid as GridSearchCV ``param_grid`` over the pipeline."""
    return {
        "model__max_depth": list(baseline.max_depth),
        "model__learning_rate": list(baseline.learning_rate),
        "model__n_estimators": list(baseline.n_estimators),
    }


def base_model(fitted: Any) -> Any:
    """The fitted model inside a pipeline's ``model`` step, calibration unwrapped."""
    model = fitted.named_steps["model"]
    return model.estimator_ if isinstance(model, CalibratedBands) else model


def feature_names_out(fitted: Any) -> list[str]:
    """Model input columns: ratio names, ``Column=<category>`` per one-hot column (sector,
    agency), then ``rating_year``, as the fitted preprocess produces them."""
    return [name for name, _, _ in output_groups(fitted.named_steps["preprocess"])]


def feature_importance(fitted: Any) -> pd.Series:
    """Tree importances, or mean |coefficient| across bands for logistic regression.

    LR coefficients are comparable only because its inputs are standardised in the pipeline.
    """
    model = base_model(fitted)
    model = getattr(model, "regressor_", model)  # the ordinal model's XGBoost
    if hasattr(model, "feature_importances_"):
        values = np.asarray(model.feature_importances_, dtype=float)
    else:
        values = np.abs(np.asarray(model.coef_, dtype=float)).mean(axis=0)
    series = pd.Series(values, index=feature_names_out(fitted), name="importance")
    return series.sort_values(ascending=False, kind="stable")
