"""A quickly fitted credit pipeline and valid applications, for scorer tests without
training a registry model (that is the slow ``trained_store`` fixture's job)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.credit_candidates import build_pipeline, fit_params
from pipelines.credit.predict import LoadedModel
from pipelines.credit.schema import MODEL_COLUMNS, RATIO_COLUMNS, SECTOR
from pipelines.credit.scoring_inputs import ScoringDefaults
from senim.config import ScoringParams
from serving.credit_schemas import CreditApplication
from serving.credit_scoring import CreditScorer
from serving.served_model import ServedModelCard
from tests.models.credit_matrix import BAND, RECIPE, credit_matrix

CARD = ServedModelCard(
    model_name="credit-rating",
    model_version="3",
    bento_tag="credit-rating:mlflow-v3",
    alias="champion",
    run_id="run-abc",
    data_version="d41d8cd9",
    git_commit="0123456",
    metrics={"macro_f1": 0.5},
)


def fitted_xgboost(seed: int = 0):
    """An XGBoost preprocess -> model pipeline on a small table (well under 1 s).

    Ratios are made non-negative so that rows of the same table are valid applications.
    """
    table = credit_matrix(50, seed=seed)
    table[list(RATIO_COLUMNS)] = table[list(RATIO_COLUMNS)].abs()
    pipeline = build_pipeline(
        "xgboost", {"n_estimators": 20, "max_depth": 3}, recipe=RECIPE, seed=0
    )
    return pipeline.fit(table[list(MODEL_COLUMNS)], table[BAND].to_numpy()), table


# What a request without agency or date is rated on, today.
DEFAULTS = ScoringDefaults.today(ScoringParams().default_rating_agency)


def fitted_calibrated_ordinal(seed: int = 0):
    """The ordinal model wrapped in its calibration, as a retraining registers it."""
    table = credit_matrix(80, seed=seed)
    table[list(RATIO_COLUMNS)] = table[list(RATIO_COLUMNS)].abs()
    pipeline = build_pipeline(
        "ordinal_xgboost",
        {"n_estimators": 40, "max_depth": 3},
        recipe=RECIPE,
        seed=0,
        calibrated=True,
        inner_splits=3,
    )
    y = table[BAND].to_numpy()
    pipeline.fit(table[list(MODEL_COLUMNS)], y, **fit_params({}, y, table["Name"].to_numpy()))
    return pipeline, table


def applications(table: pd.DataFrame, rows: int) -> list[CreditApplication]:
    """The first ``rows`` of ``table`` as validated applications (missing ratios set to 1)."""
    out = []
    for _, row in table.head(rows).iterrows():
        ratios = {c: float(1.0 if np.isnan(row[c]) else row[c]) for c in RATIO_COLUMNS}
        out.append(CreditApplication.model_validate({**ratios, SECTOR: row[SECTOR]}))
    return out


def scorer(model, scoring: ScoringParams | None = None) -> CreditScorer:
    return CreditScorer(
        loaded=LoadedModel(model=model, uri=CARD.bento_tag, version=CARD.model_version),
        card=CARD,
        scoring=scoring or ScoringParams(),
    )
