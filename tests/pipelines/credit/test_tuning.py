"""Tuning on grouped folds: honest OOF predictions, nothing synthetic in validation folds."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest
from imblearn.over_sampling import SMOTE
from sklearn.tree import DecisionTreeClassifier

import models.credit_candidates as candidates
from pipelines.credit.grouped_cv import grouped_folds
from pipelines.credit.metrics import classification_metrics
from pipelines.credit.schema import MODEL_COLUMNS, NAME, thesis_recipe
from pipelines.credit.tuning import (
    CandidateSettings,
    TuningResult,
    fit_final,
    merge_shared_results,
    oof_predictions,
    run_baseline,
    tune_family,
)
from senim.config import BaselineParams, FeatureParams
from senim.errors import DataError
from tests.models.credit_matrix import BAND, NAN_COLUMNS, RECIPE, credit_matrix

SETTINGS = CandidateSettings(
    recipe=RECIPE, seed=11, thesis_recipe=thesis_recipe(FeatureParams()), smote_k=3
)
KNOBS = {"settings": SETTINGS}
TRACED_COLUMN = "currentRatio"  # never missing, so the imputer passes it through unchanged


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    table = credit_matrix(60, seed=0)
    y = table[BAND].to_numpy()
    folds = grouped_folds(y, table[NAME].to_numpy(), n_splits=3, seed=7, smote_k=3)
    return table, y, folds


def _features(table: pd.DataFrame) -> pd.DataFrame:
    return table[list(MODEL_COLUMNS)]


def test_given_a_family_when_tuned_then_oof_covers_every_row_once_with_unit_rows(data):
    table, y, folds = data
    seen: list[tuple[int, float | None]] = []

    def record(number: int, value: float | None) -> None:
        seen.append((number, value))

    result = tune_family(
        "decision_tree", _features(table), y, folds, n_trials=3, on_trial=record, **KNOBS
    )
    assert result.oof_proba.shape == (len(table), 6)
    np.testing.assert_allclose(result.oof_proba.sum(axis=1), 1.0, atol=1e-9)
    assert len(result.fold_scores) == len(folds)
    assert result.best_score == pytest.approx(np.mean(result.fold_scores))
    assert result.n_trials == 3 and [n for n, _ in seen] == [0, 1, 2]
    assert result.family == "decision_tree" and result.seconds > 0
    assert set(result.best_params) == {"max_depth", "min_samples_leaf", "criterion", "class_weight"}
    assert result.oof_bands.shape == (len(table),)


def test_given_the_same_seed_when_tuned_twice_then_results_are_identical(data):
    table, y, folds = data
    first, second = (
        tune_family("xgboost", _features(table), y, folds, n_trials=2, **KNOBS) for _ in range(2)
    )
    assert first.best_params == second.best_params
    assert first.fold_scores == second.fold_scores
    np.testing.assert_array_equal(first.oof_proba, second.oof_proba)


def test_given_median_pruning_over_enough_trials_then_weak_trials_are_pruned(data):
    table, y, folds = data
    values: list[float | None] = []
    pruned = tune_family(
        "decision_tree",
        _features(table),
        y,
        folds,
        n_trials=14,
        on_trial=lambda _, value: values.append(value),
        **KNOBS,
    )
    assert pruned.n_pruned >= 1 and values.count(None) == pruned.n_pruned
    assert pruned.n_trials == 14
    unpruned = tune_family(
        "decision_tree", _features(table), y, folds, n_trials=4, pruning=False, **KNOBS
    )
    assert unpruned.n_pruned == 0


def _spies(monkeypatch) -> dict[str, list]:
    """Record what SMOTE resamples and what the models fit (rows, weights) and predict on."""
    calls: dict[str, list] = {"smote": [], "fit": [], "weights": [], "predict": []}

    class SpySMOTE(SMOTE):
        def fit_resample(self, X, y, **params):
            calls["smote"].append(np.array(X, copy=True))
            return super().fit_resample(X, y, **params)

    class SpyTree(DecisionTreeClassifier):
        def fit(self, X, y, sample_weight=None, **kwargs):
            calls["fit"].append(np.array(X, copy=True))
            calls["weights"].append(sample_weight)
            return super().fit(X, y, sample_weight=sample_weight, **kwargs)

        def predict_proba(self, X, **kwargs):
            calls["predict"].append(len(X))
            return super().predict_proba(X, **kwargs)

    monkeypatch.setattr(candidates, "SMOTE", SpySMOTE)
    monkeypatch.setattr(candidates, "DecisionTreeClassifier", SpyTree)
    return calls


def test_given_cv_when_tuning_then_models_fit_on_exactly_the_training_fold_rows(data, monkeypatch):
    table, y, folds = data
    assert TRACED_COLUMN not in NAN_COLUMNS
    calls = _spies(monkeypatch)
    tune_family("decision_tree", _features(table), y, folds, n_trials=1, pruning=False, **KNOBS)
    traced = table[TRACED_COLUMN].to_numpy()
    assert calls["smote"] == [], "the candidates weight rows; none is synthesised"
    for fitted_on, (train, test) in zip(calls["fit"], folds, strict=True):
        # column 0 of the preprocessed matrix is the traced ratio, untouched by the imputer
        np.testing.assert_array_equal(np.sort(fitted_on[:, 0]), np.sort(traced[train]))
        assert np.intersect1d(fitted_on[:, 0], traced[test]).size == 0
    assert len(calls["predict"]) >= len(folds)


def test_given_balanced_class_weight_then_each_band_carries_the_same_total_weight(
    data, monkeypatch
):
    table, y, folds = data
    calls = _spies(monkeypatch)
    oof_predictions(
        "decision_tree", {"class_weight": "balanced"}, _features(table), y, folds,
        **KNOBS,
    )  # fmt: skip
    weights, (train, _) = calls["weights"][0], folds[0]
    totals = [weights[y[train] == band].sum() for band in np.unique(y[train])]
    np.testing.assert_allclose(totals, totals[0])
    calls["weights"].clear()
    oof_predictions("decision_tree", {"class_weight": None}, _features(table), y, folds, **KNOBS)
    assert all(w is None for w in calls["weights"])


def test_given_the_ordinal_family_when_tuned_then_its_bands_are_its_score_cut_at_halves(data):
    table, y, folds = data
    result = tune_family("ordinal_xgboost", _features(table), y, folds, n_trials=2, **KNOBS)
    assert result.oof_proba.shape == (len(table), 6)
    assert set(np.unique(result.oof_bands)) <= set(range(6))
    assert result.best_score == pytest.approx(np.mean(result.fold_scores))
    assert "class_weight" in result.best_params


@pytest.mark.parametrize("family", ["ordinal_xgboost", "decision_tree"])
def test_given_calibration_then_bands_stay_and_probabilities_change(family):
    table = credit_matrix(200, seed=1, noise=0.6)
    y = table[BAND].to_numpy()
    folds = grouped_folds(y, table[NAME].to_numpy(), n_splits=3, seed=7, smote_k=3)
    hyperparams = {"n_estimators": 30, "max_depth": 3} if family == "ordinal_xgboost" else {}
    raw = oof_predictions(family, hyperparams, _features(table), y, folds, **KNOBS)
    calibrated = oof_predictions(
        family, hyperparams, _features(table), y, folds, groups=table[NAME].to_numpy(),
        calibrated=True, **KNOBS,
    )  # fmt: skip
    np.testing.assert_array_equal(calibrated.bands, raw.bands)
    assert calibrated.fold_scores == raw.fold_scores
    np.testing.assert_allclose(calibrated.proba.sum(axis=1), 1.0, atol=1e-9)
    assert not np.allclose(calibrated.proba, raw.proba)
    before = classification_metrics(y, raw.proba, raw.bands)["expected_calibration_error"]
    after = classification_metrics(y, calibrated.proba, calibrated.bands)
    # an unpruned tree's leaves are near-certain; calibration must fix that
    assert after["expected_calibration_error"] < before * (0.5 if family == "decision_tree" else 1)
    assert after["expected_calibration_error"] < 0.08


def test_given_a_training_fold_missing_a_band_then_oof_keeps_six_columns(data):
    table, y, folds = data
    (train, test), *rest = folds
    without_top = [(train[y[train] != 5], test), *rest]
    oof = oof_predictions(
        "xgboost", {"n_estimators": 20, "max_depth": 3}, _features(table), y, without_top, **KNOBS
    )
    proba, scores = oof.proba, oof.fold_scores
    assert proba.shape == (len(table), 6) and len(scores) == len(folds)
    assert not np.any(oof.bands[test] == 5)
    assert np.all(proba[test, 5] == 0.0)
    assert np.all(proba[rest[0][1], 5] > 0.0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


def test_given_overlapping_validation_folds_then_oof_refuses_them(data):
    table, y, folds = data
    with pytest.raises(DataError, match="validated exactly once"):
        oof_predictions("decision_tree", {}, _features(table), y, [folds[0], folds[0]], **KNOBS)


def test_given_the_thesis_grid_when_run_then_smote_sees_only_training_rows_of_the_same_folds(
    data, monkeypatch
):
    table, y, folds = data
    calls = _spies(monkeypatch)
    grid = BaselineParams(max_depth=[2, 3], learning_rate=[0.1], n_estimators=[20])
    result = run_baseline(_features(table), y, folds, baseline_params=grid, **KNOBS)
    assert result.family == "thesis_baseline" and result.n_trials == 2
    assert set(result.best_params) == {"max_depth", "learning_rate", "n_estimators"}
    assert result.best_score == pytest.approx(np.mean(result.fold_scores))
    assert result.oof_proba.shape == (len(table), 6)
    train_sizes = sorted([len(train) for train, _ in folds] * 3)  # 2 candidates + the OOF rerun
    assert sorted(len(resampled) for resampled in calls["smote"]) == train_sizes
    # the thesis reads ratios and sector only: 25 ratios + one column per sector seen
    assert all(resampled.shape[1] == 25 + 6 for resampled in calls["smote"])


def test_given_a_finished_shared_study_when_another_worker_joins_then_it_adds_no_trial(
    data, tmp_path
):
    table, y, folds = data
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    shared = {"storage": storage, "study_name": "lr-shared", "n_trials": 2}
    first = tune_family("logistic_regression", _features(table), y, folds, **shared, **KNOBS)
    second = tune_family("logistic_regression", _features(table), y, folds, **shared, **KNOBS)
    assert (first.n_trials, second.n_trials) == (2, 2)
    assert len(optuna.load_study(study_name="lr-shared", storage=storage).trials) == 2
    assert second.best_score == first.best_score
    assert second.oof_proba.shape == (len(table), 6)


def test_given_a_shared_study_with_more_to_do_when_a_worker_joins_then_it_tops_it_up(
    data, tmp_path
):
    table, y, folds = data
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    shared = {"storage": storage, "study_name": "lr-shared"}
    tune_family("logistic_regression", _features(table), y, folds, n_trials=2, **shared, **KNOBS)

    more = tune_family(
        "logistic_regression", _features(table), y, folds, n_trials=5, **shared, **KNOBS
    )

    assert more.n_trials == 5


def test_given_a_journal_file_as_study_address_when_a_worker_joins_then_it_shares_the_study(
    data, tmp_path
):
    table, y, folds = data
    shared = {"storage": f"journal:{tmp_path / 'studies.journal'}", "study_name": "lr-journal"}
    first = tune_family(
        "logistic_regression", _features(table), y, folds, n_trials=2, **shared, **KNOBS
    )

    second = tune_family(
        "logistic_regression", _features(table), y, folds, n_trials=3, **shared, **KNOBS
    )

    assert (first.n_trials, second.n_trials) == (2, 3)
    assert second.best_score >= first.best_score


def _result(best_score: float, n_trials: int, seconds: float) -> TuningResult:
    return TuningResult(
        family="xgboost", best_params={"score": best_score}, best_score=best_score,
        n_trials=n_trials, n_pruned=n_trials // 2, oof_proba=np.zeros((2, 6)),
        oof_bands=np.zeros(2, dtype=int), seconds=seconds,
    )  # fmt: skip


def test_given_tasks_that_finished_one_study_at_different_times_when_merged_then_its_best_wins():
    early, last, joined_late = (
        _result(0.41, 7, 30.0),
        _result(0.44, 10, 42.0),
        _result(0.44, 9, 5.0),
    )

    merged = merge_shared_results([early, joined_late, last])

    assert merged.best_params == {"score": 0.44} and merged.best_score == 0.44
    assert (merged.n_trials, merged.n_pruned, merged.seconds) == (10, 5, 42.0)
    assert merge_shared_results([early]).best_score == 0.41
    with pytest.raises(ValueError, match="no tuning result"):
        merge_shared_results([])


def test_given_chosen_hyperparams_when_fitting_final_then_it_predicts_band_codes(data):
    table, y, _ = data
    model = fit_final("random_forest", {"n_estimators": 20}, _features(table), y, **KNOBS)
    assert set(np.unique(model.predict(_features(table)))) <= set(range(6))


def test_given_no_junk_rows_when_fitting_final_then_error_names_the_missing_band(data):
    table, y, _ = data
    keep = y != 0
    with pytest.raises(DataError, match="the data has no Junk"):
        fit_final("xgboost", {}, _features(table)[keep], y[keep], **KNOBS)
