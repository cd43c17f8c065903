"""The credit pipelines' preprocessing: one ColumnTransformer built from a FeatureRecipe.

Ratios are imputed with KNN; for scale-sensitive models they are also signed-log
transformed and standardised. Categorical columns (sector, rating agency) are one-hot
encoded, unknown values becoming all zeros. The rating date is read as its year. The
functions below are module-level so a saved pipeline refers to them by name (skops
trusts ``models.*``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import KNNImputer, SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from models.credit_inputs import FeatureRecipe

RATING_YEAR = "rating_year"  # the output column the rating date becomes


def signed_log(values: Any) -> np.ndarray:
    """``sign(x) * log(1 + |x|)``: monotone, zero at zero, and thousands become ~7."""
    x = np.asarray(values, dtype=np.float64)
    return np.sign(x) * np.log1p(np.abs(x))


def rating_year(values: Any) -> np.ndarray:
    """``(n, 1)`` float years from M/D/YYYY texts (the part after the last slash);
    anything else, a missing value included, becomes NaN for the imputer."""
    flat = np.asarray(values, dtype=object).reshape(-1)
    years = np.full(flat.shape[0], np.nan)
    for row, value in enumerate(flat):
        if isinstance(value, str):
            tail = value.rpartition("/")[2]
            if len(tail) == 4 and tail.isdigit():
                years[row] = float(tail)
    return years.reshape(-1, 1)


def rating_year_name(_transformer: Any, _input_features: Any) -> list[str]:
    return [RATING_YEAR]


def build_preprocess(recipe: FeatureRecipe, *, scaled: bool) -> ColumnTransformer:
    """Unfitted preprocessing; ``scaled`` for models that read magnitudes (linear ones)."""
    columns = recipe.columns
    # keep_empty_features: a ratio that is all-NaN in one training fold must not drop a
    # column, or the fitted pipeline's width would depend on the fold.
    ratio_steps: list[tuple[str, Any]] = [
        ("impute", KNNImputer(n_neighbors=recipe.knn_neighbors, keep_empty_features=True))
    ]
    if scaled:
        if recipe.ratio_transform == "signed_log":
            ratio_steps.append(
                ("signed_log", FunctionTransformer(signed_log, feature_names_out="one-to-one"))
            )
        ratio_steps.append(("scale", StandardScaler()))
    transformers: list[tuple[str, Any, list[str]]] = [
        ("ratios", Pipeline(ratio_steps), list(columns.ratios))
    ]
    if columns.categories:
        transformers.append(
            (
                "categories",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                list(columns.categories),
            )
        )
    if columns.rating_date:
        year_steps: list[tuple[str, Any]] = [
            ("year", FunctionTransformer(rating_year, feature_names_out=rating_year_name)),
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ]
        if scaled:
            year_steps.append(("scale", StandardScaler()))
        transformers.append(("rating_year", Pipeline(year_steps), [columns.rating_date]))
    return ColumnTransformer(transformers, remainder="drop")


def output_groups(preprocess: Any) -> list[tuple[str, str, str | None]]:
    """Per output column of a fitted preprocess: ``(name, input column, category)``.

    Ratios map to themselves (category None), one-hot columns to ``Column=category``,
    the year to ``rating_year`` read from the date column. Understands this module's
    structure and the earlier one (``ratios`` plus a one-column ``sector`` encoder), so
    older registered models explain too.
    """
    groups: list[tuple[str, str, str | None]] = []
    for name, step, cols in preprocess.transformers_:
        if name == "remainder" or (isinstance(step, str) and step == "drop"):
            continue
        if isinstance(step, OneHotEncoder):
            for column, categories in zip(cols, step.categories_, strict=True):
                groups.extend((f"{column}={c}", column, str(c)) for c in categories)
        elif name == "rating_year":
            groups.append((RATING_YEAR, cols[0], None))
        else:
            groups.extend((column, column, None) for column in cols)
    return groups
