"""The four candidate model families, each as one imblearn pipeline.

Imputation, scaling and one-hot encoding are fitted inside the pipeline and SMOTE is a
pipeline step, so cross-validation refits all of them on training rows only: imblearn
applies samplers in ``fit`` and skips them in ``predict``/``transform``, which is what
keeps validation folds untouched by synthetic rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import optuna
import pandas as pd
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import KNNImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline as SkPipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier
from xgboost import XGBClassifier

from models.credit_inputs import FeatureColumns
from senim.config import BaselineParams

FAMILIES: tuple[str, ...] = ("logistic_regression", "decision_tree", "random_forest", "xgboost")


# Only linear models care about feature scale; trees split on ranks.
_SCALED_FAMILIES = frozenset({"logistic_regression"})


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


_MODEL_FACTORIES: dict[str, Callable[[dict[str, Any], int], Any]] = {
    "logistic_regression": _logistic_regression,
    "decision_tree": _decision_tree,
    "random_forest": _random_forest,
    "xgboost": _xgboost,
}


def build_pipeline(
    family: str,
    hyperparams: dict[str, Any],
    *,
    columns: FeatureColumns,
    knn_neighbors: int,
    smote_k: int,
    seed: int,
) -> Pipeline:
    """Unfitted preprocess -> SMOTE -> model pipeline; ``hyperparams`` are model kwargs."""
    _check_family(family)
    # keep_empty_features: a ratio that is all-NaN in one training fold must not drop a
    # column, or the fitted pipeline's width would depend on the fold.
    ratio_steps: list[tuple[str, Any]] = [
        ("impute", KNNImputer(n_neighbors=knn_neighbors, keep_empty_features=True))
    ]
    if family in _SCALED_FAMILIES:
        ratio_steps.append(("scale", StandardScaler()))
    preprocess = ColumnTransformer(
        [
            ("ratios", SkPipeline(ratio_steps), list(columns.ratios)),
            (
                "sector",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                [columns.sector],
            ),
        ],
        remainder="drop",
    )
    return Pipeline(
        [
            ("preprocess", preprocess),
            ("smote", SMOTE(k_neighbors=smote_k, random_state=seed)),
            ("model", _MODEL_FACTORIES[family](dict(hyperparams), seed)),
        ]
    )


def suggest_hyperparams(family: str, trial: optuna.Trial) -> dict[str, Any]:
    """Model kwargs for one Optuna trial; spaces sized for ~1,000 rows on two cores."""
    _check_family(family)
    if family == "logistic_regression":
        return {
            "C": trial.suggest_float("C", 1e-3, 1e2, log=True),
            "class_weight": trial.suggest_categorical("class_weight", [None, "balanced"]),
        }
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


def feature_names_out(fitted: Pipeline) -> list[str]:
    """Model input columns: the ratio names, then one ``Sector=<name>`` per seen sector."""
    inputs = {
        name: (step, list(cols))
        for name, step, cols in fitted.named_steps["preprocess"].transformers_
    }
    _, ratios = inputs["ratios"]
    encoder, (sector,) = inputs["sector"]
    return ratios + [f"{sector}={category}" for category in encoder.categories_[0]]


def feature_importance(fitted: Pipeline) -> pd.Series:
    """Tree importances, or mean |coefficient| across bands for logistic regression.

    LR coefficients are comparable only because its ratios are standardised in the pipeline.
    """
    model = fitted.named_steps["model"]
    if hasattr(model, "feature_importances_"):
        values = np.asarray(model.feature_importances_, dtype=float)
    else:
        values = np.abs(np.asarray(model.coef_, dtype=float)).mean(axis=0)
    series = pd.Series(values, index=feature_names_out(fitted), name="importance")
    return series.sort_values(ascending=False, kind="stable")
