"""Batch prediction numbers: preprocessing once changes nothing, and the published
rounding is one rule shared by the CLI's frame and the service."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.credit_candidates import build_pipeline, build_thesis_pipeline
from pipelines.credit.metrics import score_from_proba
from pipelines.credit.predict import (
    OUTPUT_COLUMNS,
    PROBABILITY_COLUMNS,
    LoadedModel,
    PublishedPrediction,
    band_probabilities,
    predict_frame,
    transformed_inputs,
)
from pipelines.credit.rating_bands import BANDS
from pipelines.credit.schema import MODEL_COLUMNS, thesis_recipe
from senim.config import FeatureParams
from tests.models.credit_matrix import BAND, RECIPE, credit_matrix

HYPERPARAMS = {
    "xgboost": {"n_estimators": 20, "max_depth": 3},
    "logistic_regression": {"C": 1.0},
    "decision_tree": {"max_depth": 5},
    "random_forest": {"n_estimators": 10, "max_depth": 5},
    "ordinal_xgboost": {"n_estimators": 30, "max_depth": 3},
}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return credit_matrix(50, seed=1)


@pytest.fixture(scope="module")
def features(table) -> pd.DataFrame:
    return table[list(MODEL_COLUMNS)]


@pytest.fixture(scope="module")
def fitted(table, features) -> dict:
    """Small preprocess -> model pipelines, one per family, and the thesis's with SMOTE."""
    models = {
        family: build_pipeline(family, params, recipe=RECIPE, seed=0).fit(
            features, table[BAND].to_numpy()
        )
        for family, params in HYPERPARAMS.items()
    }
    thesis = build_thesis_pipeline(
        HYPERPARAMS["xgboost"], recipe=thesis_recipe(FeatureParams()), smote_k=3, seed=0
    )
    models["thesis"] = thesis.fit(features, table[BAND].to_numpy())
    return models


@pytest.mark.parametrize("family", [*HYPERPARAMS, "thesis"])
def test_given_transformed_inputs_when_predicting_then_probabilities_are_the_same_bits(
    family, features, fitted
):
    """The service preprocesses once for probabilities and reasons: it must not change a bit."""
    model = fitted[family]

    transformed = transformed_inputs(model, features)

    assert np.array_equal(
        band_probabilities(model, features, transformed=transformed),
        band_probabilities(model, features),
    )


def test_given_a_pipeline_with_smote_when_transformed_then_smote_is_skipped(features, fitted):
    """SMOTE resamples in training only: predict-time inputs keep one row per application."""
    model = fitted["thesis"]
    assert "smote" in model.named_steps

    transformed = transformed_inputs(model, features)

    assert transformed.shape[0] == len(features)
    assert np.array_equal(transformed, model.named_steps["preprocess"].transform(features))


def test_given_probabilities_when_published_then_rounded_to_6_and_scores_to_2_decimals():
    proba = np.array(
        [
            [0.0, 0.01234567, 0.12345678, 0.3, 0.46419755, 0.1],
            [0.7, 0.2, 0.05, 0.0333333333, 0.0166666667, 0.0],
        ]
    )

    published = PublishedPrediction.of(proba)

    assert np.array_equal(published.probabilities, proba.round(6))
    assert published.probabilities[0, 1] == 0.012346
    assert np.array_equal(published.scores, score_from_proba(proba).round(2))
    assert np.array_equal(published.band_codes, [4, 0])
    assert published.band_codes.dtype.kind == "i"


def test_given_a_model_when_framed_then_columns_are_the_published_numbers_exactly(features, fitted):
    """`senim credit predict` and the service publish identical numbers for a row."""
    model = fitted["xgboost"]
    loaded = LoadedModel(model=model, uri="models:/credit-rating/3", version="3")
    published = PublishedPrediction.of(band_probabilities(model, features))

    frame = predict_frame(loaded, features)

    assert list(frame.columns) == list(OUTPUT_COLUMNS)
    assert frame["band_code"].tolist() == published.band_codes.tolist()
    assert frame["rating_band"].tolist() == [BANDS[c] for c in published.band_codes]
    for column in PROBABILITY_COLUMNS:
        band = column.removeprefix("p_")
        assert np.array_equal(frame[column], published.probabilities[:, BANDS.index(band)])
    assert np.array_equal(frame["score"], published.scores)
    assert set(frame["model_version"]) == {"3"}


def test_given_transformed_inputs_when_framed_then_the_frame_is_unchanged(features, fitted):
    model = fitted["random_forest"]
    loaded = LoadedModel(model=model, uri="runs:/abc/model", version="runs:/abc/model")

    with_transformed = predict_frame(
        loaded, features, transformed=transformed_inputs(model, features)
    )

    pd.testing.assert_frame_equal(with_transformed, predict_frame(loaded, features))


def test_given_band_codes_when_published_then_they_are_kept_instead_of_the_argmax():
    proba = np.array([[0.1, 0.2, 0.3, 0.25, 0.1, 0.05]])
    assert PublishedPrediction.of(proba).band_codes.tolist() == [2]
    assert PublishedPrediction.of(proba, np.array([3])).band_codes.tolist() == [3]


def test_given_the_ordinal_model_when_framed_then_the_band_is_its_own_not_the_argmax(
    features, fitted
):
    model = fitted["ordinal_xgboost"]
    loaded = LoadedModel(model=model, uri="runs:/abc/model", version="1")
    frame = predict_frame(loaded, features)
    assert frame["band_code"].tolist() == model.predict(features).tolist()
    proba = band_probabilities(model, features)
    assert np.array_equal(frame["score"], score_from_proba(proba).round(2))
