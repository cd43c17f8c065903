"""Fairness slices on tiny frames whose per-slice metric and gap are known by hand."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipelines.credit.fairness import MISSING, slice_report
from senim.config import FairnessParams
from senim.errors import DataError


def _params(**overrides) -> FairnessParams:
    values = {"slices": ["Sector"], "metric": "accuracy", "max_gap": 0.15, "min_slice_size": 4}
    return FairnessParams(**{**values, **overrides})


def _frame() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    # Energy: 4 rows, 1 right (0.25); Finance: 6 rows, all right (1.0); overall 7/10 = 0.7.
    frame = pd.DataFrame({"Sector": ["Energy"] * 4 + ["Finance"] * 6})
    y = np.array([0, 1, 2, 3, 0, 1, 2, 3, 4, 5])
    pred = np.array([0, 0, 0, 0, 0, 1, 2, 3, 4, 5])
    return frame, y, pred


def test_given_one_bad_sector_when_sliced_then_gap_and_flag_are_the_hand_computed_ones():
    frame, y, pred = _frame()

    report = slice_report(frame, y, pred, _params())

    assert report.overall == pytest.approx(0.7)
    by_value = {s.value: s for s in report.slices}
    assert by_value["Energy"].metric == pytest.approx(0.25)
    assert by_value["Energy"].gap == pytest.approx(0.45)
    assert by_value["Energy"].size == 4 and by_value["Energy"].flagged
    assert by_value["Finance"].gap == pytest.approx(-0.3) and not by_value["Finance"].flagged
    assert [s.value for s in report.slices] == ["Finance", "Energy"]  # largest first
    assert len(report.flagged) == 1


def test_given_bad_slice_smaller_than_min_size_when_sliced_then_reported_not_flagged():
    frame, y, pred = _frame()

    report = slice_report(frame, y, pred, _params(min_slice_size=5))

    energy = next(s for s in report.slices if s.value == "Energy")
    assert energy.gap == pytest.approx(0.45) and not energy.flagged


def test_given_macro_f1_when_sliced_then_only_bands_seen_in_the_slice_count():
    frame = pd.DataFrame({"Sector": ["A"] * 4})
    y = np.array([0, 0, 1, 1])
    pred = np.array([0, 0, 1, 0])
    # band 0: p=2/3 r=1 f1=0.8; band 1: p=1 r=1/2 f1=2/3; macro over the 2 seen = 0.7333
    report = slice_report(frame, y, pred, _params(metric="macro_f1"))

    assert report.slices[0].metric == pytest.approx((0.8 + 2 / 3) / 2)


def test_given_empty_cells_when_sliced_then_they_form_a_missing_slice():
    frame = pd.DataFrame({"Sector": ["A", None, "A", None]})
    report = slice_report(frame, np.zeros(4, int), np.zeros(4, int), _params())

    assert {s.value for s in report.slices} == {"A", MISSING}


def test_given_slice_column_absent_when_sliced_then_error_names_the_column():
    frame, y, pred = _frame()

    with pytest.raises(DataError, match=r"'Rating Agency Name'.*lacks"):
        slice_report(frame, y, pred, _params(slices=["Sector", "Rating Agency Name"]))


def test_given_misaligned_rows_when_sliced_then_error_says_so():
    frame, y, pred = _frame()

    with pytest.raises(ValueError, match="frame has 10 rows but y_true has 9"):
        slice_report(frame, y[:9], pred[:9], _params())


def test_given_report_when_rendered_then_json_and_markdown_carry_the_same_numbers():
    frame, y, pred = _frame()
    report = slice_report(frame, y, pred, _params())

    payload = json.loads(report.to_json())
    markdown = report.to_markdown()

    assert payload["flagged"] == 1 and payload["overall"] == pytest.approx(0.7)
    assert payload["slices"][1]["value"] == "Energy" and payload["slices"][1]["flagged"]
    assert "| Sector | Energy | 4 | 0.2500 | 0.4500 | yes |" in markdown
    assert "| Sector | Finance | 6 | 1.0000 | -0.3000 | no |" in markdown
