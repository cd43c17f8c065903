"""Choosing the inference path: compiled only when it reproduces the model on its check."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pipelines.credit.inference import (
    CHECK_ROWS,
    INFERENCE_ENV,
    check_compiled,
    choose_inference,
    inference_mode,
    split_point_rows,
)
from senim.errors import ConfigError
from tests.serving.scoring_fixtures import fitted_calibrated_ordinal, fitted_xgboost


def test_given_a_calibrated_ordinal_pipeline_when_chosen_then_compiled_and_checked_exactly():
    model, _ = fitted_calibrated_ordinal()
    path = choose_inference(model)
    assert path.kind == "compiled" and path.compiled is not None
    assert path.check.passed and path.check.rows == CHECK_ROWS
    assert path.check.signal_max_diff == 0.0 and path.check.bands_agree
    assert f"{CHECK_ROWS} rows" in path.describe()


def test_given_a_multiclass_xgboost_pipeline_when_chosen_then_native_with_the_reason():
    model, _ = fitted_xgboost()
    path = choose_inference(model)
    assert path.kind == "native" and path.compiled is None
    assert "XGBClassifier is not compiled" in path.reason


def test_given_a_compiled_form_that_differs_when_checked_then_it_is_refused():
    model, _ = fitted_calibrated_ordinal()
    compiled = choose_inference(model).compiled
    thresholds = compiled.trees.threshold.copy()
    thresholds[compiled.trees.left >= 0] += np.float32(1e-3)  # every split moved a little
    broken = dataclasses.replace(
        compiled, trees=dataclasses.replace(compiled.trees, threshold=thresholds)
    )
    check = check_compiled(broken, model.steps[-1][1])
    assert not check.passed and check.signal_max_diff > 0


def test_given_the_trees_when_sampling_then_rows_sit_on_both_sides_of_every_split():
    model, _ = fitted_calibrated_ordinal()
    trees = choose_inference(model).compiled.trees
    rows = split_point_rows(trees, 512).astype(np.float32)
    inner = trees.left >= 0
    for column in np.unique(trees.feature[inner]):
        cuts = np.unique(trees.threshold[inner & (trees.feature == column)])
        values = rows[:, column]
        assert (values[~np.isnan(values)] < cuts.min()).any()
        assert (values >= cuts.max()).any()
    assert np.isnan(rows).any()


def test_given_native_asked_for_when_chosen_then_native_and_it_says_who_asked():
    model, _ = fitted_calibrated_ordinal()
    path = choose_inference(model, inference_mode({INFERENCE_ENV: "native"}))
    assert path.kind == "native" and INFERENCE_ENV in path.reason


def test_given_an_unknown_inference_mode_then_a_config_error_names_the_variable():
    with pytest.raises(ConfigError, match=f"{INFERENCE_ENV} must be one of auto, native"):
        inference_mode({INFERENCE_ENV: "fast"})


def test_given_paths_then_labels_fit_a_bentoml_label():
    model, _ = fitted_calibrated_ordinal()
    assert choose_inference(model).label() == f"compiled, checked on {CHECK_ROWS} rows"
    assert len(choose_inference(model).label()) <= 63
