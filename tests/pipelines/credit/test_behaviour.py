"""Behavioural checks of a trained credit model: they pass for a sound model, and each
kind fails, with its reason, for a model that breaks it; a failure blocks promotion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from models.credit_candidates import build_pipeline, fit_params
from pipelines.credit.behaviour import DIRECTIONAL_EXPECTATIONS, check_behaviour
from pipelines.credit.gate import decide_promotion
from pipelines.credit.schema import MODEL_COLUMNS, NAME, RATIO_COLUMNS, SYMBOL
from pipelines.credit.sources import read_credit_csv
from pipelines.credit.synthetic import generate_credit_ratings
from pipelines.credit.training_matrix import training_matrix
from senim.config import BehaviourParams, GateParams, SyntheticParams
from tests.models.credit_matrix import RECIPE

PARAMS = BehaviourParams(sample_rows=120)
AGENCY = "Standard & Poor's Ratings Services"
REAL = Path(__file__).resolve().parents[4] / "shared/data/corporate_rating/corporate_rating_dev.csv"
GOOD_METRICS = {
    "macro_f1": 0.6,
    "balanced_accuracy": 0.6,
    "within_one_band_accuracy": 0.9,
    "mean_abs_band_error": 0.5,
}


@pytest.fixture(scope="module")
def matrix():
    frame = generate_credit_ratings(SyntheticParams(n_companies=160, seed=3))
    return training_matrix(frame), frame


def _ordinal(features: pd.DataFrame, bands: np.ndarray, companies: np.ndarray):
    pipeline = build_pipeline(
        "ordinal_xgboost",
        {"n_estimators": 80, "max_depth": 3, "class_weight": "balanced"},
        recipe=RECIPE,
        seed=0,
        calibrated=True,
        inner_splits=3,
    )
    return pipeline.fit(
        features, bands, **fit_params({"class_weight": "balanced"}, bands, companies)
    )


@pytest.fixture(scope="module")
def sound(matrix):
    m, _ = matrix
    return _ordinal(m.features, m.bands, m.companies)


def test_given_a_sound_model_when_checked_then_every_check_passes(matrix, sound):
    m, frame = matrix
    report = check_behaviour(sound, frame, m.bands, PARAMS, default_agency=AGENCY)
    assert report.passed, report.to_markdown()
    kinds = {c.kind for c in report.checks}
    assert kinds == {"invariance", "directional", "minimum_functionality"}
    assert len(report.checks) == 2 + len(DIRECTIONAL_EXPECTATIONS) + 1
    decision = decide_promotion(GOOD_METRICS, GateParams(), None, report)
    assert decision.passed and decision.reasons[-1] == "behaviour: all 7 checks passed"


def _reading(column: str, sound) -> Pipeline:
    """The sound model behind a step that lets ``column`` leak into one ratio."""

    def leak(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        if column == "row order":
            out["currentRatio"] = out["currentRatio"] + np.arange(len(out)) % 7
        else:
            lengths = out[column].astype(str).str.len() if column in out else 0
            out["currentRatio"] = out["currentRatio"] + lengths
        return out.loc[:, list(MODEL_COLUMNS)]

    return Pipeline([("leak", FunctionTransformer(leak)), *sound.steps])


@pytest.mark.parametrize(
    ("column", "check"),
    [(NAME, "name_and_symbol_invariance"), (SYMBOL, "name_and_symbol_invariance"),
     ("row order", "row_order_invariance")],
)  # fmt: skip
def test_given_a_model_reading_identity_or_order_when_checked_then_invariance_fails(
    matrix, sound, column, check
):
    m, frame = matrix
    report = check_behaviour(_reading(column, sound), frame, m.bands, PARAMS, default_agency=AGENCY)
    failed = {c.name for c in report.failures}
    assert check in failed
    decision = decide_promotion(GOOD_METRICS, GateParams(), None, report)
    assert not decision.passed
    assert any(r.startswith(f"behaviour: {check} failed:") for r in decision.reasons)


def test_given_a_model_that_rewards_debt_when_checked_then_the_directional_check_fails(matrix):
    """Bands made to rise with the debt ratio: the model learns it, and the gate says no."""
    m, frame = matrix
    features = m.features.copy()
    order = np.argsort(np.argsort(features["debtRatio"].to_numpy()))
    rewarded = np.sort(m.bands)[order]  # the most indebted get the best bands
    model = _ordinal(features, rewarded, m.companies)
    report = check_behaviour(model, frame, rewarded, PARAMS, default_agency=AGENCY)
    (failure,) = [c for c in report.failures if c.name == "higher_debtRatio"]
    assert "should not raise the score" in failure.detail


def test_given_a_model_trained_on_shuffled_bands_when_checked_then_clear_cases_fail(matrix):
    m, frame = matrix
    shuffled = np.random.default_rng(0).permutation(m.bands)
    model = _ordinal(m.features, shuffled, m.companies)
    report = check_behaviour(model, frame, m.bands, PARAMS, default_agency=AGENCY)
    assert "band_prototypes_in_order" in {c.name for c in report.failures}


def test_given_a_report_then_markdown_and_json_list_every_check(matrix, sound):
    m, frame = matrix
    report = check_behaviour(sound, frame, m.bands, PARAMS, default_agency=AGENCY)
    assert report.to_markdown().count("| pass |") == len(report.checks)
    assert report.to_json().count('"passed": true') == len(report.checks)


@pytest.mark.shared_data
@pytest.mark.skipif(not REAL.is_file(), reason="../shared/data/corporate_rating is absent")
def test_given_the_real_development_file_when_checked_then_the_ordinal_model_passes():
    frame = read_credit_csv(REAL)
    m = training_matrix(frame)
    model = _ordinal(m.features, m.bands, m.companies)
    report = check_behaviour(model, frame, m.bands, BehaviourParams(), default_agency=AGENCY)
    assert report.passed, report.to_markdown()
    assert set(RATIO_COLUMNS) >= {e.ratio for e in DIRECTIONAL_EXPECTATIONS}
