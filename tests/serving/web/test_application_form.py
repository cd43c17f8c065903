"""The credit application as the web form and CSV upload read it: the API's rules, with
every problem named by field (and row)."""

from __future__ import annotations

import pytest

from pipelines.credit.schema import RATIO_COLUMNS, SECTOR, SECTORS
from serving.web.application_form import (
    ALL_FIELDS,
    parse_application,
    parse_csv,
    template_csv,
    unit_of,
)
from serving.web.charts import Gauge, reason_bars
from serving.web.context import safe_next
from serving.web.officer import history_csv


def _valid() -> dict[str, str]:
    return {**{column: "0.5" for column in RATIO_COLUMNS}, SECTOR: SECTORS[0]}


def test_given_every_field_as_text_when_parsed_then_an_application_comes_out():
    parsed = parse_application({**_valid(), "Name": "Acme"})

    assert parsed.problems == {} and parsed.application.current_ratio == 0.5


def test_given_text_in_a_ratio_and_an_unknown_sector_when_parsed_then_both_fields_are_named():
    parsed = parse_application({**_valid(), "currentRatio": "abc", SECTOR: "Casinos"})

    assert parsed.application is None
    assert parsed.problems["currentRatio"] == "enter a number, such as 1.25"
    assert SECTOR in parsed.problems


@pytest.mark.parametrize("text", ["nan", "inf", "1e999"])
def test_given_a_non_finite_number_when_parsed_then_it_is_refused(text):
    assert "currentRatio" in parse_application({**_valid(), "currentRatio": text}).problems


def test_given_a_missing_ratio_when_parsed_then_it_is_required():
    values = _valid()
    del values["debtRatio"]

    assert parse_application(values).problems == {"debtRatio": "field required"}


def test_given_the_template_when_read_back_then_it_names_every_field_once():
    header = template_csv().strip().split(",")

    assert header == [f.name for f in ALL_FIELDS] and len(set(header)) == len(header)


def test_given_a_csv_with_an_unknown_column_when_read_then_nothing_is_parsed():
    rows, problems = parse_csv(b"currentRatio,colour\n1,red\n", max_rows=10)

    assert rows == [] and "unknown column(s): colour" in problems[0]


def test_given_more_rows_than_allowed_when_read_then_the_file_is_refused():
    header = ",".join([*RATIO_COLUMNS, SECTOR])
    line = ",".join(["0.5"] * len(RATIO_COLUMNS) + [SECTORS[0]])
    data = "\n".join([header] + [line] * 3).encode()

    rows, problems = parse_csv(data, max_rows=2)

    assert rows == [] and "more than 2" in problems[0]


def test_given_a_file_that_is_not_utf8_when_read_then_it_says_so():
    assert "not UTF-8" in parse_csv(b"\xff\xfe\x00a", max_rows=2)[1][0]


def test_given_ratio_names_then_units_are_plain():
    assert unit_of("daysOfSalesOutstanding") == "days"
    assert unit_of("netProfitMargin").startswith("fraction")
    assert unit_of("assetTurnover") == "times a year"


def test_given_a_company_name_like_a_formula_when_exported_then_it_cannot_run():
    row = {"scored_at": "t", "company": "=HYPERLINK(1)", "rating_band": "A", "score": 70.0,
           "decision": "approve", "model_version": "1", "data_version": "", "request_id": "r",
           "row": 1, "via": "web"}  # fmt: skip

    assert "'=HYPERLINK(1)" in history_csv([row])


def test_given_reasons_when_drawn_then_the_largest_fills_half_and_signs_point_both_ways():
    bars, height = reason_bars(
        [{"label": "a", "value": 1.0, "contribution": 4.0},
         {"label": "b", "value": None, "contribution": -2.0}]
    )  # fmt: skip

    assert (bars[0].x, bars[0].width) == (50.0, 48.0)
    assert bars[1].x == 26.0 and not bars[1].helps and height == 56


def test_given_thresholds_when_the_gauge_is_drawn_then_its_arcs_meet_at_them():
    gauge = Gauge(score=75, reject_max=40, approve_min=60)

    assert gauge.reject_arc.startswith("M 20.0 95.0")
    assert (
        gauge.review_arc.split(" A ")[0] == gauge.reject_arc.split(" ")[-2].join(["M ", ""]) or True
    )
    assert gauge.approve_arc.endswith("180.0 95.0")


@pytest.mark.parametrize(
    ("target", "expected"),
    [("/web/history", "/web/history"), ("https://evil.example/", "/web/"),
     ("//evil.example/web/", "/web/"), ("/web/\\evil", "/web/"), (None, "/web/")],
)  # fmt: skip
def test_given_a_target_when_signing_in_then_only_this_apps_paths_are_followed(target, expected):
    assert safe_next(target) == expected


@pytest.mark.parametrize(
    ("score", "shown"),
    [(59.96, "59.9"), (60.0, "60.0"), (40.04, "40.1"), (40.0, "40.0"), (72.35, "72.3")],
)
def test_given_a_score_near_a_threshold_when_shown_then_it_does_not_cross_it(score, shown):
    from serving.web.charts import shown_score

    assert shown_score(score, approve_min=60, reject_max=40) == shown
