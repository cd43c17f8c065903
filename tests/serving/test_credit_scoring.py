"""CreditScorer: the service's numbers are the batch CLI's, with the decision, confidence,
reason codes and lineage added, one answer per application in order."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.credit.decision import decide
from pipelines.credit.predict import predict_frame
from pipelines.credit.rating_bands import BANDS
from pipelines.credit.reason_codes import reason_codes
from senim.config import ScoringParams
from serving.credit_schemas import to_frame
from serving.credit_scoring import UNSTAMPED_REQUEST_ID, CreditScorer
from tests.serving.scoring_fixtures import (
    CARD,
    DEFAULTS,
    applications,
    fitted_calibrated_ordinal,
    fitted_xgboost,
    scorer,
)


@pytest.fixture(scope="module")
def model_and_table():
    return fitted_xgboost()


@pytest.fixture(scope="module")
def model(model_and_table):
    return model_and_table[0]


@pytest.fixture(scope="module")
def apps(model_and_table):
    return applications(model_and_table[1], 12)


def test_given_applications_when_scored_then_one_answer_each_in_order(model, apps):
    """Answers line up with the applications: the i-th answer is the i-th row's alone."""
    credit = scorer(model)

    together = credit.score(apps)
    one_by_one = [credit.score([app])[0] for app in apps]

    assert len(together) == len(apps)
    assert [a.score for a in together] == [a.score for a in one_by_one]
    assert [a.rating_band for a in together] == [a.rating_band for a in one_by_one]


def test_given_no_applications_when_scored_then_the_answer_is_empty(model):
    assert scorer(model).score([]) == []


def test_given_applications_when_scored_then_the_numbers_equal_the_batch_cli(model, apps):
    """`senim credit predict` and the service must publish the same band, probabilities
    and score for the same model and rows."""
    results = scorer(model).score(apps)
    frame = predict_frame(scorer(model).loaded, to_frame(apps, DEFAULTS))

    assert [r.rating_band for r in results] == frame["rating_band"].tolist()
    assert [r.band_code for r in results] == frame["band_code"].tolist()
    assert [r.score for r in results] == frame["score"].tolist()
    for result, (_, row) in zip(results, frame.iterrows(), strict=True):
        assert result.probabilities == {band: row[f"p_{band}"] for band in reversed(BANDS)}
        assert list(result.probabilities) == list(reversed(BANDS))


def test_given_thresholds_when_scored_then_each_decision_follows_decide(model, apps):
    """Thresholds picked around the scores seen, so all three outcomes are exercised."""
    scores = sorted(r.score for r in scorer(model).score(apps))
    low, high = scores[len(scores) // 3], scores[2 * len(scores) // 3]
    scoring = ScoringParams(reject_max_score=low, approve_min_score=high)

    results = scorer(model, scoring).score(apps)

    assert [r.decision for r in results] == [decide(r.score, scoring) for r in results]
    assert {r.decision for r in results} == {"approve", "review", "reject"}


def test_given_an_answer_then_confidence_is_its_largest_probability(model, apps):
    for result in scorer(model).score(apps):
        assert result.confidence == pytest.approx(max(result.probabilities.values()), abs=1e-5)
        assert result.probabilities[result.rating_band] == max(result.probabilities.values())


def test_given_an_answer_then_lineage_names_the_model_and_awaits_the_request_id(model, apps):
    """The request id is the ledger's to stamp: the scorer leaves its placeholder."""
    (result,) = scorer(model).score(apps[:1])

    assert result.lineage.request_id == UNSTAMPED_REQUEST_ID
    assert (result.lineage.model_name, result.lineage.model_version) == ("credit-rating", "3")
    assert (result.lineage.run_id, result.lineage.data_version) == (
        CARD.run_id,
        CARD.data_version,
    )


@pytest.mark.parametrize("top", [0, 2, 5])
def test_given_top_reasons_when_scored_then_at_most_that_many_reasons(model, apps, top):
    results = scorer(model, ScoringParams(top_reasons=top)).score(apps)

    assert all(len(r.reasons) <= top for r in results)
    if top:
        assert any(len(r.reasons) == top for r in results)


@pytest.mark.parametrize("option", ["exact", "approximate"])
def test_given_the_contributions_option_then_reasons_are_reason_codes_rounded(model, apps, option):
    """The configured XGBoost method is used; contributions are rounded to 4 decimals."""
    scoring = ScoringParams(xgboost_contributions=option, top_reasons=3)

    results = scorer(model, scoring).score(apps)

    expected = reason_codes(model, to_frame(apps, DEFAULTS), top=3, xgboost_contributions=option)
    for result, reasons in zip(results, expected, strict=True):
        assert [r.model_dump() for r in result.reasons] == [
            {**r, "contribution": round(r["contribution"], 4)} for r in reasons
        ]


def test_given_the_frame_of_applications_then_it_is_what_the_model_was_trained_on(model, apps):
    """The applications reach the model as MODEL_COLUMNS rows: the same as the table's."""
    frame = to_frame(apps, DEFAULTS)

    assert isinstance(frame, pd.DataFrame) and len(frame) == len(apps)
    assert list(frame.columns) == list(model.feature_names_in_)


def test_given_any_answer_when_scored_then_confidence_is_exactly_the_bands_probability(model, apps):
    """Rounded once: never 0.936132 beside a probability of 0.936131 (the README says they
    are the same number)."""
    for result in scorer(model).score(apps):
        assert result.confidence == result.probabilities[result.rating_band]


@pytest.fixture(scope="module")
def ordinal_and_table():
    return fitted_calibrated_ordinal()


def test_given_the_calibrated_ordinal_model_then_its_band_and_numbers_equal_the_batch_cli(
    ordinal_and_table,
):
    model, table = ordinal_and_table
    apps = applications(table, 20)
    results = scorer(model).score(apps)
    frame = predict_frame(scorer(model).loaded, to_frame(apps, DEFAULTS))
    bands = model.predict(to_frame(apps, DEFAULTS))
    assert [r.band_code for r in results] == frame["band_code"].tolist() == bands.tolist()
    assert [r.score for r in results] == frame["score"].tolist()
    for result in results:  # the published probability of the band it names
        assert result.confidence == result.probabilities[result.rating_band]


def test_given_the_calibrated_ordinal_model_then_the_compiled_inputs_are_the_pipelines(
    ordinal_and_table,
):
    model, table = ordinal_and_table
    credit = CreditScorer.build(scorer(model).loaded, CARD, ScoringParams())
    assert credit.compiled is not None, "the new preprocessing must compile"
    apps = applications(table, 15)
    assert [r.model_dump() for r in credit.score(apps)] == [
        r.model_dump() for r in scorer(model).score(apps)
    ]


def test_given_a_request_without_agency_or_date_then_it_is_rated_on_the_defaults(
    ordinal_and_table,
):
    model, table = ordinal_and_table
    (app,) = applications(table, 1)
    explicit = app.model_copy(update={"rating_agency_name": DEFAULTS.agency, "date": DEFAULTS.date})
    assert scorer(model).score([app])[0].score == scorer(model).score([explicit])[0].score


def test_given_another_agency_scale_then_the_score_may_move_but_the_answer_stays_valid(
    ordinal_and_table,
):
    model, table = ordinal_and_table
    apps = applications(table, 10)
    other = [
        a.model_copy(update={"rating_agency_name": "Egan-Jones Ratings Company"}) for a in apps
    ]
    for result in scorer(model).score(other):
        assert 0 <= result.score <= 100
        assert result.confidence == result.probabilities[result.rating_band]


def test_given_the_compiled_path_then_answers_equal_the_native_models_and_the_cli(
    ordinal_and_table,
):
    from pipelines.credit.predict import LoadedModel

    model, table = ordinal_and_table
    apps = applications(table, 25)
    native = scorer(model)
    compiled = CreditScorer.build(
        LoadedModel.of(model, CARD.bento_tag, CARD.model_version), CARD,
        ScoringParams(xgboost_contributions="approximate"),
    )  # fmt: skip
    assert compiled.loaded.inference.kind == "compiled"
    fast = compiled.score(apps)
    slow = CreditScorer(native.loaded, CARD, ScoringParams(xgboost_contributions="approximate"))
    slow = slow.score(apps)
    for a, b in zip(fast, slow, strict=True):
        assert (a.rating_band, a.probabilities, a.score, a.confidence, a.decision) == (
            b.rating_band, b.probabilities, b.score, b.confidence, b.decision,
        )  # fmt: skip
        assert [r.feature for r in a.reasons] == [r.feature for r in b.reasons]
        for x, y in zip(a.reasons, b.reasons, strict=True):
            assert abs(x.contribution - y.contribution) <= 2e-4
    cli = predict_frame(compiled.loaded, to_frame(apps, DEFAULTS))
    assert [r.score for r in fast] == cli["score"].tolist()
    assert [r.band_code for r in fast] == cli["band_code"].tolist()


def test_given_the_compiled_path_and_exact_reasons_then_treeshap_still_explains_them(
    ordinal_and_table,
):
    from pipelines.credit.predict import LoadedModel

    model, table = ordinal_and_table
    loaded = LoadedModel.of(model, CARD.bento_tag, CARD.model_version)
    results = CreditScorer.build(loaded, CARD, ScoringParams(xgboost_contributions="exact")).score(
        applications(table, 3)
    )
    assert {r.method for result in results for r in result.reasons} == {"xgboost_pred_contribs"}
