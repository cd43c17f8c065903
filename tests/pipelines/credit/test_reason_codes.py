"""Reason codes: faithful to each model's own decomposition, few, sorted and readable."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.neighbors import KNeighborsClassifier

from models.credit_candidates import build_pipeline, feature_importance, fit_params
from models.credit_features import output_groups
from pipelines.credit.metrics import score_from_proba
from pipelines.credit.predict import band_probabilities, transformed_inputs
from pipelines.credit.reason_codes import FEATURE_LABELS, reason_codes
from pipelines.credit.schema import (
    AGENCIES,
    AGENCY,
    DATE,
    MODEL_COLUMNS,
    NAME,
    RATIO_COLUMNS,
    SECTOR,
    SECTORS,
)
from tests.models.credit_matrix import BAND, RECIPE, credit_matrix

HYPERPARAMS = {
    "xgboost": {"n_estimators": 30, "max_depth": 3},
    "logistic_regression": {"C": 1.0},
    "decision_tree": {"max_depth": 5},
    "random_forest": {"n_estimators": 20, "max_depth": 6},
    "ordinal_xgboost": {"n_estimators": 30, "max_depth": 3},
}
METHODS = {
    "xgboost": "xgboost_pred_contribs",
    "logistic_regression": "linear_terms",
    "decision_tree": "tree_path",
    "random_forest": "tree_path",
    "ordinal_xgboost": "xgboost_pred_contribs",
    "calibrated_ordinal": "xgboost_pred_contribs",
    "calibrated_forest": "tree_path",
    "knn": "occlusion",
}
FEATURES = (*RATIO_COLUMNS, SECTOR, AGENCY, DATE)  # what the default recipe reads
ALL = len(FEATURES)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return credit_matrix(60, seed=0)


@pytest.fixture(scope="module")
def features(table) -> pd.DataFrame:
    return table[list(MODEL_COLUMNS)]


@pytest.fixture(scope="module")
def fitted(table, features) -> dict:
    models = {}
    y = table[BAND].to_numpy()
    for family in (*HYPERPARAMS, "knn"):
        pipeline = build_pipeline(
            "decision_tree" if family == "knn" else family,
            HYPERPARAMS.get(family, {}),
            recipe=RECIPE,
            seed=0,
        )
        if family == "knn":  # a model with no decomposition of its own
            pipeline.set_params(model=KNeighborsClassifier(n_neighbors=15))
        models[family] = pipeline.fit(features, y)
    for name, family in (
        ("calibrated_ordinal", "ordinal_xgboost"),
        ("calibrated_forest", "random_forest"),
    ):
        pipeline = build_pipeline(
            family, HYPERPARAMS[family], recipe=RECIPE, seed=0, calibrated=True, inner_splits=3
        )
        models[name] = pipeline.fit(features, y, **fit_params({}, y, table[NAME].to_numpy()))
    return models


def _scores(pipeline, frame: pd.DataFrame) -> np.ndarray:
    return score_from_proba(band_probabilities(pipeline, frame))


def _softmax_score(margins: np.ndarray, codes: np.ndarray) -> np.ndarray:
    proba = np.exp(margins - margins.max(axis=-1, keepdims=True))
    return 20.0 * (proba @ codes) / proba.sum(axis=-1)


@pytest.mark.parametrize("family", list(METHODS))
def test_given_each_model_when_explained_then_reasons_are_few_sorted_and_readable(
    family, features, fitted
):
    rows = features.iloc[:40]
    explained = reason_codes(fitted[family], rows, top=4)
    assert len(explained) == len(rows)
    assert any(explained), "some row must have a reason"
    for (_, row), reasons in zip(rows.iterrows(), explained, strict=True):
        assert len(reasons) <= 4
        sizes = [abs(reason["contribution"]) for reason in reasons]
        assert sizes == sorted(sizes, reverse=True)
        for reason in reasons:
            assert reason["method"] == METHODS[family]
            assert reason["feature"] in FEATURES
            assert reason["effect"] == ("raises" if reason["contribution"] > 0 else "lowers")
            if reason["feature"] == SECTOR:
                assert reason["label"] == f"sector: {row[SECTOR]}"
                assert reason["value"] is None
            elif reason["feature"] == AGENCY:
                assert reason["label"] == f"rated on the scale of {row[AGENCY]}"
                assert reason["value"] is None
            elif reason["feature"] == DATE:
                assert reason["label"].startswith("rating year")
                assert reason["value"] == float(row[DATE].rpartition("/")[2])
            else:
                assert reason["label"] == FEATURE_LABELS[reason["feature"]]
                assert " " in reason["label"] and reason["feature"] not in reason["label"]
                expected = row[reason["feature"]]
                assert reason["value"] == (None if pd.isna(expected) else expected)


def test_given_all_labels_then_every_feature_and_category_has_a_plain_language_name():
    assert set(FEATURE_LABELS) == (
        set(RATIO_COLUMNS)
        | {f"{SECTOR}={s}" for s in SECTORS}
        | {f"{AGENCY}={a}" for a in AGENCIES}
        | {DATE}
    )
    assert FEATURE_LABELS["Sector=Energy"] == "sector: Energy"
    assert FEATURE_LABELS[f"{AGENCY}=Fitch Ratings"] == "rated on the scale of Fitch Ratings"
    for label in FEATURE_LABELS.values():
        assert not re.search(r"[a-z][A-Z]", label), f"camelCase in {label!r}"
        assert label == label.strip() and " " in label


@pytest.mark.parametrize("family", ["xgboost", "logistic_regression", "decision_tree"])
def test_given_one_hot_columns_when_explained_then_each_comes_back_as_one_feature(
    family, features, fitted
):
    explained = reason_codes(fitted[family], features.iloc[:40], top=ALL)
    for reasons in explained:
        names = [reason["feature"] for reason in reasons]
        assert len(names) == len(set(names))
        assert not any("=" in name for name in names)
        assert set(names) <= set(FEATURES)
    if family == "logistic_regression":  # every sector has its own non-zero terms
        assert all(SECTOR in {reason["feature"] for reason in r} for r in explained)


def test_given_xgboost_then_pred_contribs_sum_to_the_margins_behind_predict_proba(features, fitted):
    pipeline = fitted["xgboost"]
    matrix = xgb.DMatrix(pipeline.named_steps["preprocess"].transform(features))
    booster = pipeline.named_steps["model"].get_booster()
    contribs = booster.predict(matrix, pred_contribs=True)
    margins = booster.predict(matrix, output_margin=True)
    assert contribs.shape == (len(features), 6, matrix.num_col() + 1)
    np.testing.assert_allclose(contribs.sum(axis=2), margins, atol=1e-4)
    codes = np.arange(6, dtype=float)
    np.testing.assert_allclose(
        _softmax_score(margins.astype(float), codes), _scores(pipeline, features), atol=1e-3
    )


def _path_average(terms: np.ndarray, bias: np.ndarray, steps: int = 4000) -> np.ndarray:
    """Integrated gradients by brute force: the score's slope along each feature's terms,
    averaged over a fine grid from the bias to the full margins."""
    codes = np.arange(terms.shape[0], dtype=float)
    slopes = []
    for t in np.linspace(0.0, 1.0, steps):
        margins = bias + t * terms.sum(axis=1)
        eps = 1e-6
        up = _softmax_score(margins[None, :] + eps * terms.T, codes)
        down = _softmax_score(margins[None, :] - eps * terms.T, codes)
        slopes.append((up - down) / (2 * eps))
    return np.trapezoid(slopes, dx=1.0 / (steps - 1), axis=0)


def _by_feature(reasons: list) -> dict[str, float]:
    return {reason["feature"]: reason["contribution"] for reason in reasons}


def _xgboost_terms(pipeline, rows: pd.DataFrame) -> np.ndarray:
    matrix = xgb.DMatrix(pipeline.named_steps["preprocess"].transform(rows))
    booster = pipeline.named_steps["model"].get_booster()
    return booster.predict(matrix, pred_contribs=True).astype(float)


def _collapsed(pipeline, values: np.ndarray) -> dict[str, float]:
    """Model-column values summed per input feature (one-hot columns into their column)."""
    out: dict[str, float] = {}
    for (_, column, _), value in zip(
        output_groups(pipeline.named_steps["preprocess"]), values, strict=True
    ):
        out[column] = out.get(column, 0.0) + float(value)
    return out


def test_given_xgboost_then_contributions_add_up_to_the_score_less_the_bias_score(features, fitted):
    pipeline = fitted["xgboost"]
    contribs = _xgboost_terms(pipeline, features)
    bias_score = _softmax_score(contribs[:, :, -1], np.arange(6.0))
    explained = reason_codes(pipeline, features, top=ALL)
    totals = np.array([sum(_by_feature(reasons).values()) for reasons in explained])
    np.testing.assert_allclose(totals + bias_score, _scores(pipeline, features), atol=0.01)


def test_given_xgboost_then_each_contribution_is_its_path_averaged_score_slope(features, fitted):
    pipeline = fitted["xgboost"]
    rows = features.iloc[:3]
    contribs = _xgboost_terms(pipeline, rows)
    for row, reasons in enumerate(reason_codes(pipeline, rows, top=ALL)):
        expected = _collapsed(pipeline, _path_average(contribs[row, :, :-1], contribs[row, :, -1]))
        got = _by_feature(reasons)
        for feature, value in expected.items():
            assert got.get(feature, 0.0) == pytest.approx(value, abs=1e-3)


def test_given_logistic_regression_then_contributions_come_from_its_own_linear_terms(
    features, fitted
):
    pipeline = fitted["logistic_regression"]
    model = pipeline.named_steps["model"]
    inputs = pipeline.named_steps["preprocess"].transform(features)
    np.testing.assert_allclose(
        _softmax_score(model.decision_function(inputs), np.arange(6.0)),
        _scores(pipeline, features),
        atol=1e-9,
    )
    explained = reason_codes(pipeline, features, top=ALL)
    totals = np.array([sum(_by_feature(reasons).values()) for reasons in explained])
    intercept_score = _softmax_score(model.intercept_, np.arange(6.0))
    np.testing.assert_allclose(totals + intercept_score, _scores(pipeline, features), atol=0.01)
    for row in range(2):
        terms = model.coef_ * inputs[row][None, :]
        expected = _collapsed(pipeline, _path_average(terms, model.intercept_))
        got = _by_feature(explained[row])
        for feature, value in expected.items():
            assert got.get(feature, 0.0) == pytest.approx(value, abs=1e-3)


@pytest.mark.parametrize("family", ["decision_tree", "random_forest"])
def test_given_a_tree_model_then_contributions_sum_to_the_score_less_a_shared_baseline(
    family, features, fitted
):
    pipeline = fitted[family]
    explained = reason_codes(pipeline, features, top=ALL)
    totals = np.array([sum(_by_feature(reasons).values()) for reasons in explained])
    baseline = _scores(pipeline, features) - totals
    np.testing.assert_allclose(baseline, baseline[0], atol=1e-9)
    assert sum(1 for reasons in explained if reasons) == len(features)


def test_given_a_model_without_a_decomposition_then_occlusion_hides_one_feature_at_a_time(
    features, fitted
):
    pipeline = fitted["knn"]
    row = features.iloc[[3]]
    reasons = _by_feature(reason_codes(pipeline, row, top=ALL)[0])
    assert reasons, "occlusion must find a feature that matters"
    for feature, contribution in reasons.items():
        hidden = row.copy()
        hidden[feature] = (
            "never seen" if feature in (SECTOR, AGENCY) else None if feature == DATE else np.nan
        )
        assert contribution == pytest.approx(
            _scores(pipeline, row)[0] - _scores(pipeline, hidden)[0], abs=1e-9
        )


def _key_ratio(pipeline, table: pd.DataFrame) -> tuple[str, float]:
    """The model's most important ratio and +1/-1, the direction the data calls better."""
    ranked = [name for name in feature_importance(pipeline).index if name in RATIO_COLUMNS]
    column = ranked[0]
    filled = table[column].fillna(table[column].median())
    return column, float(np.sign(np.corrcoef(filled, table[BAND])[0, 1]))


# Not logistic regression: on this table's 25 near-collinear ratios its multinomial
# coefficients are not ordered by band, so no single ratio moves its score one way only.
@pytest.mark.parametrize("family", ["xgboost", "decision_tree", "random_forest"])
def test_given_a_key_ratio_pushed_to_a_clearly_better_value_then_it_raises_the_score(
    family, table, features, fitted
):
    pipeline = fitted[family]
    column, better = _key_ratio(pipeline, table)
    spread = table[column].std()
    row = features[table[BAND] == 2].iloc[[0]].copy()
    good, bad = row.copy(), row.copy()
    good[column] = table[column].median() + better * 4 * spread
    bad[column] = table[column].median() - better * 4 * spread
    assert _scores(pipeline, good)[0] > _scores(pipeline, bad)[0]
    assert _by_feature(reason_codes(pipeline, good, top=ALL)[0])[column] > 0
    assert _by_feature(reason_codes(pipeline, bad, top=ALL)[0])[column] < 0


def test_given_top_and_edge_inputs_then_limits_hold(features, fitted):
    pipeline = fitted["xgboost"]
    assert reason_codes(pipeline, features.iloc[:3], top=0) == [[], [], []]
    assert reason_codes(pipeline, features.iloc[:0]) == []
    assert all(len(r) == 5 for r in reason_codes(pipeline, features.iloc[:10]))
    with pytest.raises(ValueError, match="top"):
        reason_codes(pipeline, features.iloc[:1], top=-1)


def test_given_the_same_input_when_explained_twice_then_the_reasons_are_identical(features, fitted):
    for family in METHODS:
        rows = features.iloc[:5]
        assert reason_codes(fitted[family], rows) == reason_codes(fitted[family], rows)


@pytest.mark.parametrize("family", list(METHODS))
def test_given_transformed_inputs_when_explained_then_the_reasons_are_the_same(
    family, features, fitted
):
    """The service hands over the preprocessing it already ran: reasons must not change."""
    pipeline = fitted[family]
    rows = features.iloc[:10]

    with_transformed = reason_codes(
        pipeline, rows, top=ALL, transformed=transformed_inputs(pipeline, rows)
    )

    assert with_transformed == reason_codes(pipeline, rows, top=ALL)


def _xgboost_approx_terms(pipeline, rows: pd.DataFrame) -> np.ndarray:
    matrix = xgb.DMatrix(pipeline.named_steps["preprocess"].transform(rows))
    booster = pipeline.named_steps["model"].get_booster()
    return booster.predict(matrix, pred_contribs=True, approx_contribs=True).astype(float)


def test_given_approximate_xgboost_contributions_then_they_are_labelled_as_approximate(
    features, fitted
):
    explained = reason_codes(
        fitted["xgboost"], features.iloc[:10], top=ALL, xgboost_contributions="approximate"
    )

    methods = {reason["method"] for reasons in explained for reason in reasons}
    assert methods == {"xgboost_approx_contribs"}


def test_given_approximate_xgboost_contributions_then_they_add_up_to_the_score_less_the_bias(
    features, fitted
):
    """Saabas terms add up to the margins like TreeSHAP's, so the same identity holds."""
    pipeline = fitted["xgboost"]
    contribs = _xgboost_approx_terms(pipeline, features)
    matrix = xgb.DMatrix(pipeline.named_steps["preprocess"].transform(features))
    margins = pipeline.named_steps["model"].get_booster().predict(matrix, output_margin=True)
    np.testing.assert_allclose(contribs.sum(axis=2), margins, atol=1e-4)
    bias_score = _softmax_score(contribs[:, :, -1], np.arange(6.0))

    explained = reason_codes(pipeline, features, top=ALL, xgboost_contributions="approximate")

    totals = np.array([sum(_by_feature(reasons).values()) for reasons in explained])
    np.testing.assert_allclose(totals + bias_score, _scores(pipeline, features), atol=0.01)


def test_given_approximate_xgboost_contributions_then_they_differ_from_the_exact_ones(
    features, fitted
):
    """The option really switches method (else "approximate" would be a mislabel)."""
    rows = features.iloc[:10]
    exact = reason_codes(fitted["xgboost"], rows, top=ALL, xgboost_contributions="exact")
    approx = reason_codes(fitted["xgboost"], rows, top=ALL, xgboost_contributions="approximate")

    assert {r["method"] for reasons in exact for r in reasons} == {"xgboost_pred_contribs"}
    assert [_by_feature(r) for r in exact] != [_by_feature(r) for r in approx]


@pytest.mark.parametrize("family", ["logistic_regression", "decision_tree", "knn"])
def test_given_a_non_xgboost_model_when_approximate_is_asked_then_its_own_method_is_used(
    family, features, fitted
):
    """The option is about XGBoost only; other families explain themselves as before."""
    rows = features.iloc[:5]

    approx = reason_codes(fitted[family], rows, xgboost_contributions="approximate")

    assert approx == reason_codes(fitted[family], rows)


@pytest.mark.parametrize("bad", ["fast", "", "Exact", None])
def test_given_an_unknown_xgboost_contributions_option_then_value_error(bad, features, fitted):
    with pytest.raises(ValueError, match="xgboost_contributions"):
        reason_codes(fitted["xgboost"], features.iloc[:1], xgboost_contributions=bad)


def _published_score_of_signal(final, signal: np.ndarray) -> np.ndarray:
    proba = final.proba_from_signal(np.asarray(signal, dtype=float))
    return 20.0 * (proba @ np.arange(6, dtype=float))


@pytest.mark.parametrize("name", ["ordinal_xgboost", "calibrated_ordinal"])
def test_given_the_ordinal_model_then_contributions_add_up_to_the_published_score_less_the_bias(
    name, features, fitted
):
    """The regression's own decomposition, carried through the map from its score to the
    published (calibrated) score: exactly additive in score points."""
    pipeline = fitted[name]
    final = pipeline.named_steps["model"]
    ordinal = final.estimator_ if name.startswith("calibrated") else final
    rows = features.iloc[:25]
    terms = xgb.DMatrix(pipeline.named_steps["preprocess"].transform(rows))
    bias = ordinal.regressor_.get_booster().predict(terms, pred_contribs=True)[:, -1]
    explained = reason_codes(pipeline, rows, top=ALL)
    totals = np.array([sum(r["contribution"] for r in reasons) for reasons in explained])
    expected = _scores(pipeline, rows) - _published_score_of_signal(final, bias)
    np.testing.assert_allclose(totals, expected, atol=1e-4)  # XGBoost sums in float32


def test_given_a_calibrated_forest_then_its_tree_paths_add_up_to_the_published_score(
    features, fitted
):
    """The forest's paths add up to 20 * (its expected band code - the roots'); carried
    through the calibration they add up to the published score less the roots' score."""
    pipeline = fitted["calibrated_forest"]
    final = pipeline.named_steps["model"]
    forest = final.estimator_
    codes = final.band_codes_[forest.classes_].astype(float)
    roots = [tree.tree_.value[0, 0] / tree.tree_.value[0, 0].sum() for tree in forest.estimators_]
    root_signal = float(np.mean([root @ codes for root in roots]))
    rows = features.iloc[:20]
    explained = reason_codes(pipeline, rows, top=ALL)
    totals = np.array([sum(r["contribution"] for r in reasons) for reasons in explained])
    expected = _scores(pipeline, rows) - _published_score_of_signal(final, np.array([root_signal]))
    np.testing.assert_allclose(totals, expected, atol=1e-6)
