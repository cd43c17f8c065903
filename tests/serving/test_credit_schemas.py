"""Credit scoring bodies: every kind of bad input is refused with the field named."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pytest
from pydantic import ValidationError

from pipelines.credit.schema import (
    AGENCIES,
    AGENCY,
    DATE,
    FEATURE_COLUMNS,
    MODEL_COLUMNS,
    RATIO_COLUMNS,
    SECTOR,
    SECTORS,
)
from pipelines.credit.scoring_inputs import ScoringDefaults
from pipelines.credit.validate import RATIO_LIMITS
from serving.credit_schemas import (
    MAX_BATCH,
    NON_NEGATIVE_RATIOS,
    CreditApplication,
    CreditBatch,
    CreditScore,
    Lineage,
    ReasonCode,
    to_frame,
)

DEFAULTS = ScoringDefaults(agency="Moody's Investors Service", day=dt.date(2026, 3, 4))


def _application(**overrides) -> dict:
    body = {column: 0.5 + i / 10 for i, column in enumerate(RATIO_COLUMNS)}
    body[SECTOR] = "Energy"
    body.update(overrides)
    return body


def _errors(model, body) -> list[dict]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return caught.value.errors(include_url=False)


def _error_at(model, body) -> dict:
    errors = _errors(model, body)
    assert len(errors) == 1, errors
    return errors[0]


def test_given_the_model_then_its_aliases_are_exactly_the_schema_feature_columns():
    aliases = [field.alias for field in CreditApplication.model_fields.values()]
    assert aliases[: len(FEATURE_COLUMNS)] == list(FEATURE_COLUMNS)


def test_given_a_good_application_when_framed_then_columns_follow_model_order_and_types():
    first = CreditApplication.model_validate(_application())
    second = CreditApplication.model_validate(
        _application(currentRatio=3, Sector="Finance", Date="12/31/2015", **{AGENCY: AGENCIES[1]})
    )
    frame = to_frame([first, second], DEFAULTS)
    assert list(frame.columns) == list(MODEL_COLUMNS)
    assert frame[AGENCY].tolist() == ["Moody's Investors Service", AGENCIES[1]]
    assert frame[DATE].tolist() == ["3/4/2026", "12/31/2015"]
    assert all(frame[column].dtype == np.float64 for column in RATIO_COLUMNS)
    assert frame[SECTOR].tolist() == ["Energy", "Finance"]
    expected = [_application()[column] for column in RATIO_COLUMNS]
    np.testing.assert_array_equal(frame.loc[0, list(RATIO_COLUMNS)].to_numpy(float), expected)
    assert frame.loc[1, "currentRatio"] == 3.0


def test_given_no_applications_when_framed_then_the_frame_is_empty_with_the_columns():
    frame = to_frame([], DEFAULTS)
    assert frame.shape == (0, len(MODEL_COLUMNS))
    assert list(frame.columns) == list(MODEL_COLUMNS)


def test_given_snake_case_names_when_validated_then_they_equal_the_schema_names():
    by_alias = CreditApplication.model_validate(_application())
    snake = {
        name: getattr(by_alias, name)
        for name, field in CreditApplication.model_fields.items()
        if field.alias in FEATURE_COLUMNS
    }
    assert CreditApplication.model_validate(snake) == by_alias
    assert "current_ratio" in snake and snake["sector"] == "Energy"


def test_given_identity_columns_by_schema_name_when_validated_then_they_are_kept():
    body = _application(
        Rating="BBB-",
        Name="Whirlpool Corp.",
        Symbol="WHR",
        **{"Rating Agency Name": "Egan-Jones Ratings Company", "Date": "11/27/2015"},
    )
    app = CreditApplication.model_validate(body)
    assert (app.rating, app.name, app.symbol) == ("BBB-", "Whirlpool Corp.", "WHR")
    assert app.model_dump(by_alias=True, exclude_none=True) == body


def test_given_json_text_when_validated_then_ints_and_floats_are_accepted():
    app = CreditApplication.model_validate_json(json.dumps(_application(currentRatio=2)))
    assert app.current_ratio == 2.0 and isinstance(app.current_ratio, float)


def test_given_a_missing_ratio_when_validated_then_the_error_names_it():
    body = _application()
    del body["cashRatio"]
    error = _error_at(CreditApplication, body)
    assert (error["type"], error["loc"]) == ("missing", ("cashRatio",))


def test_given_a_missing_sector_when_validated_then_the_error_names_it():
    body = _application()
    del body[SECTOR]
    assert _error_at(CreditApplication, body)["loc"] == (SECTOR,)


@pytest.mark.parametrize("value", ["1.5", "abc", True, None, [1.0], {"v": 1}])
def test_given_a_non_number_in_a_ratio_when_validated_then_it_is_refused(value):
    error = _error_at(CreditApplication, _application(returnOnAssets=value))
    assert error["loc"] == ("returnOnAssets",)
    assert error["type"] == "float_type"


def test_given_a_string_number_in_json_when_validated_then_it_is_refused():
    body = json.dumps(_application(debtEquityRatio="0.4"))
    with pytest.raises(ValidationError) as caught:
        CreditApplication.model_validate_json(body)
    assert caught.value.errors()[0]["loc"] == ("debtEquityRatio",)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_given_nan_or_infinity_when_validated_then_the_field_is_named(value):
    error = _error_at(CreditApplication, _application(netProfitMargin=value))
    assert (error["type"], error["loc"]) == ("finite_number", ("netProfitMargin",))


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_given_nan_or_infinity_in_json_when_validated_then_they_are_refused(literal):
    body = json.dumps(_application()).replace(
        '"netProfitMargin": 0.9', f'"netProfitMargin": {literal}'
    )
    assert literal in body
    with pytest.raises(ValidationError) as caught:
        CreditApplication.model_validate_json(body)
    assert caught.value.errors()[0]["loc"] == ("netProfitMargin",)


def test_given_the_validate_limits_then_the_impossible_negatives_are_the_accounting_ones():
    assert NON_NEGATIVE_RATIOS == {
        "currentRatio",
        "quickRatio",
        "cashRatio",
        "daysOfSalesOutstanding",
        "assetTurnover",
        "fixedAssetTurnover",
        "debtRatio",
        "cashPerShare",
        "payablesTurnover",
    }


@pytest.mark.parametrize("column", sorted(NON_NEGATIVE_RATIOS))
def test_given_a_negative_where_impossible_when_validated_then_it_is_refused(column):
    error = _error_at(CreditApplication, _application(**{column: -0.01}))
    assert (error["type"], error["loc"]) == ("greater_than_equal", (column,))
    assert CreditApplication.model_validate(_application(**{column: 0})) is not None


def test_given_a_negative_margin_when_validated_then_it_is_accepted():
    app = CreditApplication.model_validate(_application(netProfitMargin=-0.4, returnOnEquity=-2))
    assert app.net_profit_margin == -0.4


@pytest.mark.parametrize("column", ["currentRatio", "debtRatio", "enterpriseValueMultiple"])
def test_given_a_value_beyond_the_training_hard_limit_when_validated_then_it_is_refused(column):
    high = RATIO_LIMITS[column][1]
    error = _error_at(CreditApplication, _application(**{column: high * 1.01}))
    assert (error["type"], error["loc"]) == ("less_than_equal", (column,))


def test_given_an_unknown_sector_when_validated_then_the_error_names_it_and_lists_sectors():
    error = _error_at(CreditApplication, _application(Sector="Crypto"))
    assert (error["type"], error["loc"]) == ("literal_error", (SECTOR,))
    assert all(f"'{sector}'" in error["msg"] for sector in SECTORS)


def test_given_an_unknown_field_when_validated_then_it_is_named():
    error = _error_at(CreditApplication, _application(currentRatoi=1.0))
    assert (error["type"], error["loc"]) == ("extra_forbidden", ("currentRatoi",))


def test_given_a_field_both_by_alias_and_by_name_when_validated_then_it_is_refused():
    error = _error_at(CreditApplication, _application(current_ratio=9.0))
    assert error["loc"] == ("current_ratio",)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Rating", "AAX"),
        ("Date", "2015-11-27"),
        ("Date", "13/45/2015"),
        ("Date", "1/1/1899"),
        ("Date", "1/1/2999"),
        ("Rating Agency Name", "Standard and Poor's"),
        ("Rating Agency Name", ""),
        ("Name", ""),
        ("Name", "ACME\x00Corp"),
        ("Name", "x" * 201),
        ("Symbol", 42),
    ],
)
def test_given_a_bad_identity_column_when_validated_then_it_is_named(field, value):
    assert _error_at(CreditApplication, _application(**{field: value}))["loc"] == (field,)


def test_given_an_application_when_changed_then_it_is_frozen():
    app = CreditApplication.model_validate(_application())
    with pytest.raises(ValidationError):
        app.current_ratio = 2.0


def test_given_an_empty_batch_when_validated_then_it_is_refused():
    error = _error_at(CreditBatch, {"applications": []})
    assert (error["type"], error["loc"]) == ("too_short", ("applications",))


def test_given_a_batch_over_the_max_when_validated_then_it_is_refused():
    body = _application()
    error = _error_at(CreditBatch, {"applications": [body] * (MAX_BATCH + 1)})
    assert (error["type"], error["loc"]) == ("too_long", ("applications",))
    assert len(CreditBatch.model_validate({"applications": [body] * MAX_BATCH}).applications) == (
        MAX_BATCH
    )


def test_given_a_configured_max_when_validated_then_that_max_applies():
    limited = CreditBatch.limited_to(2)
    assert limited is CreditBatch.limited_to(2)
    assert issubclass(limited, CreditBatch)
    assert limited.model_json_schema()["properties"]["applications"]["maxItems"] == 2
    assert len(limited.model_validate({"applications": [_application()] * 2}).applications) == 2
    error = _error_at(limited, {"applications": [_application()] * 3})
    assert (error["type"], error["loc"]) == ("too_long", ("applications",))


@pytest.mark.parametrize("bad", [0, -1, True, 2.5])
def test_given_a_nonsense_configured_max_then_it_is_an_error(bad):
    with pytest.raises(ValueError, match="max_batch"):
        CreditBatch.limited_to(bad)


def test_given_a_bad_row_in_a_batch_when_validated_then_the_error_names_row_and_field():
    body = {"applications": [_application(), _application(cashRatio="x")]}
    assert _error_at(CreditBatch, body)["loc"] == ("applications", 1, "cashRatio")


def _score(**overrides) -> dict:
    body = {
        "rating_band": "BBB",
        "band_code": 3,
        "probabilities": {"Junk": 0.0, "B": 0.1, "BB": 0.2, "BBB": 0.4, "A": 0.2, "A+": 0.1},
        "score": 60.0,
        "confidence": 0.4,
        "decision": "approve",
        "reasons": [
            {
                "feature": "debtRatio",
                "label": "debt ratio (total liabilities / total assets)",
                "value": 0.7,
                "effect": "lowers",
                "contribution": -3.2,
                "method": "xgboost_pred_contribs",
            }
        ],
        "lineage": {"model_name": "credit-rating", "model_version": "3", "request_id": "r-1"},
    }
    body.update(overrides)
    return body


def test_given_a_score_when_built_then_probabilities_read_best_band_first():
    score = CreditScore.model_validate(_score())
    assert list(score.probabilities) == ["A+", "A", "BBB", "BB", "B", "Junk"]
    assert isinstance(score.reasons[0], ReasonCode) and isinstance(score.lineage, Lineage)
    assert list(json.loads(score.model_dump_json())["probabilities"]) == list(score.probabilities)


@pytest.mark.parametrize(
    ("overrides", "loc"),
    [
        ({"probabilities": {"A": 1.0}}, ("probabilities",)),
        ({"probabilities": dict.fromkeys(["Junk", "B", "BB", "BBB", "A", "A+"], 1.5)}, None),
        ({"decision": "maybe"}, ("decision",)),
        ({"rating_band": "AAA"}, ("rating_band",)),
        ({"score": 100.5}, ("score",)),
    ],
)
def test_given_a_bad_score_when_built_then_the_field_is_named(overrides, loc):
    errors = _errors(CreditScore, _score(**overrides))
    assert all(error["loc"][0] == (loc or ("probabilities",))[0] for error in errors)
    if loc is not None:
        assert [error["loc"] for error in errors] == [loc]


def test_given_a_reason_with_an_unknown_effect_then_it_is_refused():
    reason = _score()["reasons"][0] | {"effect": "neutral"}
    assert _error_at(ReasonCode, reason)["loc"] == ("effect",)


@pytest.mark.parametrize(
    ("date", "message"),
    [("1/1/2999", "must not be in the future"), ("2015-11-27", "M/D/YYYY")],
)
def test_given_a_bad_date_when_validated_then_the_message_says_which_rule(date, message):
    error = _error_at(CreditApplication, _application(Date=date))
    assert message in error["msg"]


def test_given_an_unknown_agency_when_validated_then_the_error_lists_the_known_ones():
    error = _error_at(CreditApplication, _application(**{AGENCY: "Acme Ratings"}))
    assert error["loc"] == (AGENCY,)
    assert all(agency in error["msg"] for agency in AGENCIES)


def test_given_the_schema_then_agency_and_date_are_optional_and_documented():
    schema = CreditApplication.model_json_schema(by_alias=True)
    assert AGENCY not in schema["required"] and DATE not in schema["required"]
    assert "default" in schema["properties"][AGENCY]["description"]
