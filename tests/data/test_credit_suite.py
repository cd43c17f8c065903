"""The credit suite catches each fault a snapshot can carry, and names column and count.

Faults whose detection depends on the data's own values (ranges, tolerances, null shares,
band sizes) run on the small built frame and, where ../shared/data is present, on the
real dev file; the rest run on the built frame only, as each validation costs a second.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.credit.rating_bands import rating_to_band
from pipelines.credit.schema import AGENCY, DATE, RATING, SECTOR
from pipelines.credit.validate import (
    NORM_MOSTLY,
    SUITE_NAME,
    ExpectationFailure,
    ValidationResult,
    build_credit_suite,
    ensure_valid,
    validate_credit_data,
)
from senim.config import ValidationParams
from senim.errors import DataValidationError
from tests.data.credit_frames import REAL_DEV_CSV, clean_credit_frame, read_real_dev_frame

DEFAULTS = ValidationParams()


@pytest.fixture(
    scope="module",
    params=[
        "built",
        pytest.param("real", marks=pytest.mark.shared_data),
    ],
)
def source_frame(request: pytest.FixtureRequest) -> pd.DataFrame:
    if request.param == "built":
        return clean_credit_frame()
    if not REAL_DEV_CSV.exists():
        pytest.skip(f"real dev file not found at {REAL_DEV_CSV}")
    return read_real_dev_frame()


@pytest.fixture
def frame(source_frame: pd.DataFrame) -> pd.DataFrame:
    """Built and real frames: for checks whose outcome depends on the data's own values."""
    return source_frame.copy()


@pytest.fixture
def built_frame() -> pd.DataFrame:
    """The built frame only: for checks that do not depend on the data's values."""
    return clean_credit_frame()


def failures_on(result: ValidationResult, column: str | None, expectation: str = "") -> list:
    return [
        failure
        for failure in result.failures
        if failure.column == column and failure.expectation.startswith(expectation)
    ]


def only_failure(
    result: ValidationResult, column: str | None, description: str
) -> ExpectationFailure:
    assert not result.success
    matching = [f for f in failures_on(result, column) if description in f.description]
    assert len(matching) == 1, result.report()
    return matching[0]


def test_given_clean_frame_when_validated_then_it_passes(frame: pd.DataFrame) -> None:
    result = validate_credit_data(frame, DEFAULTS)

    assert result.success, result.report()
    assert result.failures == []
    assert result.evaluated == len(build_credit_suite(DEFAULTS).expectations)
    assert result.summary().startswith("data validation passed")


def test_given_missing_column_when_validated_then_failure_names_column(
    built_frame: pd.DataFrame,
) -> None:
    result = validate_credit_data(built_frame.drop(columns=["cashRatio"]), DEFAULTS)

    missing = failures_on(result, "cashRatio", "expect_column_to_exist")
    assert len(missing) == 1
    assert "cashRatio: column missing" in result.summary()
    assert "not run" not in result.summary()  # the other cashRatio checks are consequences


def test_given_inf_ratio_when_validated_then_failure_names_column_and_count(
    built_frame: pd.DataFrame,
) -> None:
    built_frame.loc[[3, 8, 13], "currentRatio"] = [np.inf, -np.inf, np.inf]

    result = validate_credit_data(built_frame, DEFAULTS)

    failure = only_failure(result, "currentRatio", "must be finite")
    assert failure.unexpected_count == 3
    assert [row for row, _ in failure.examples] == [3, 8, 13]
    assert "currentRatio: 3 infinite values" in result.summary()


def test_given_absurd_negative_current_ratio_when_validated_then_hard_limit_fails(
    frame: pd.DataFrame,
) -> None:
    frame.loc[5, "currentRatio"] = -50.0

    result = validate_credit_data(frame, DEFAULTS)

    failure = only_failure(result, "currentRatio", "must be between -10 and")
    assert failure.unexpected_count == 1
    assert failure.examples == [(5, -50.0)]


def test_given_many_negative_current_ratios_when_validated_then_norm_fails_with_count(
    frame: pd.DataFrame,
) -> None:
    rows = frame.index[::10]  # 10% of rows, far above the tolerated share
    frame.loc[rows, "currentRatio"] = -0.5

    result = validate_credit_data(frame, DEFAULTS)

    failure = only_failure(result, "currentRatio", ">= 0 in at least")
    assert failure.unexpected_count == int((frame["currentRatio"] < 0).sum())
    assert failure.unexpected_count >= len(rows)


def test_given_rare_mild_negative_current_ratio_when_validated_then_it_is_tolerated(
    frame: pd.DataFrame,
) -> None:
    # The real data has such rows (vendor sign errors); NORM_MOSTLY tolerates a few.
    already = int((frame["currentRatio"] < 0).sum())
    tolerated = int(len(frame) * (1 - NORM_MOSTLY)) - already - 1
    assert tolerated >= 1
    frame.loc[frame.index[:tolerated], "currentRatio"] = -0.5

    assert validate_credit_data(frame, DEFAULTS).success


def test_given_tax_rate_far_out_of_range_when_validated_then_failure_names_column(
    frame: pd.DataFrame,
) -> None:
    frame.loc[2, "effectiveTaxRate"] = 5000.0
    frame.loc[4, "daysOfSalesOutstanding"] = -2e6

    result = validate_credit_data(frame, DEFAULTS)

    assert only_failure(result, "effectiveTaxRate", "between -1000 and 1000").unexpected_count == 1
    assert only_failure(result, "daysOfSalesOutstanding", "between -10000").unexpected_count == 1


def test_given_text_in_ratio_column_when_validated_then_type_failure_names_column(
    built_frame: pd.DataFrame,
) -> None:
    built_frame["quickRatio"] = built_frame["quickRatio"].astype(str)

    result = validate_credit_data(built_frame, DEFAULTS)

    failure = only_failure(result, "quickRatio", "must be numeric")
    assert failure.unexpected_count == len(built_frame)
    assert "quickRatio" in result.summary()


def test_given_nulls_over_limit_when_validated_then_failure_names_column_and_count(
    frame: pd.DataFrame,
) -> None:
    rows = frame.index[::10]
    frame.loc[rows, "debtRatio"] = np.nan

    result = validate_credit_data(frame, DEFAULTS)

    failure = only_failure(result, "debtRatio", "empty")
    assert failure.unexpected_count == len(rows)
    assert failure.examples[0][0] == 0


def test_given_nulls_within_limit_when_validated_then_it_passes(frame: pd.DataFrame) -> None:
    frame.loc[frame.index[:2], "debtRatio"] = np.nan

    assert validate_credit_data(frame, DEFAULTS).success


@pytest.mark.parametrize("column", [AGENCY, "cashRatio"])
def test_given_all_null_column_when_validated_then_entirely_empty_is_reported(
    built_frame: pd.DataFrame, column: str
) -> None:
    built_frame[column] = np.nan if column == "cashRatio" else None
    lenient = ValidationParams(max_null_fraction=1.0)  # only the all-null check remains

    result = validate_credit_data(built_frame, lenient)

    failure = only_failure(result, column, "must not be entirely empty")
    assert len(result.failures) == 1
    assert f"{column}: entirely empty" in result.summary()
    assert failure.expectation == "expect_column_proportion_of_non_null_values_to_be_between"


def test_given_null_sector_within_null_limit_when_validated_then_sector_must_be_complete(
    built_frame: pd.DataFrame,
) -> None:
    built_frame.loc[1, SECTOR] = None

    result = validate_credit_data(built_frame, DEFAULTS)

    assert only_failure(result, SECTOR, "empty").unexpected_count == 1


def test_given_unknown_rating_labels_when_validated_then_failure_lists_labels(
    built_frame: pd.DataFrame,
) -> None:
    built_frame.loc[[0, 1], RATING] = ["AAX", "Q"]

    result = validate_credit_data(built_frame, DEFAULTS)

    failure = only_failure(result, RATING, "AAA..D")
    assert failure.unexpected_count == 2
    assert failure.examples == [(0, "AAX"), (1, "Q")]
    assert "Rating: 2 unknown labels ['AAX', 'Q']" in result.summary()


def test_given_too_few_rows_in_one_band_when_validated_then_failure_names_band_and_count(
    frame: pd.DataFrame,
) -> None:
    junk = frame[RATING].map(rating_to_band) == "Junk"
    keep = frame.index[~junk].append(frame.index[junk][:2])
    frame = frame.loc[keep]

    result = validate_credit_data(frame, DEFAULTS)

    failure = only_failure(result, RATING, "band Junk")
    assert failure.unexpected_count == 2
    assert "Rating: 2 rows in band Junk (expected >= 5)" in result.summary()


def test_given_duplicate_rows_when_validated_then_failure_counts_repeats(
    built_frame: pd.DataFrame,
) -> None:
    doubled = pd.concat([built_frame, built_frame.iloc[[4, 9]]], ignore_index=True)

    result = validate_credit_data(doubled, DEFAULTS)

    failure = only_failure(result, None, "repeat an earlier row")
    assert failure.unexpected_count == 2
    assert "table: 2 duplicate rows (expected <= 0)" in result.summary()
    assert validate_credit_data(doubled, ValidationParams(max_duplicate_rows=2)).success


def test_given_unparseable_dates_when_validated_then_failure_names_column_and_count(
    built_frame: pd.DataFrame,
) -> None:
    built_frame.loc[[6, 7], DATE] = ["2014-13-45", "yesterday"]

    result = validate_credit_data(built_frame, DEFAULTS)

    failure = only_failure(result, DATE, "M/D/YYYY")
    assert failure.unexpected_count == 2
    assert failure.examples == [(6, "2014-13-45"), (7, "yesterday")]


def test_given_too_few_rows_when_validated_then_table_failure_reports_row_count(
    frame: pd.DataFrame,
) -> None:
    params = ValidationParams(min_rows=len(frame) + 1)

    result = validate_credit_data(frame, params)

    failure = only_failure(result, None, "at least")
    assert failure.expectation == "expect_table_row_count_to_be_between"
    assert failure.unexpected_count == len(frame)


def test_given_docs_dir_when_validated_then_index_html_names_the_suite(
    built_frame: pd.DataFrame, tmp_path: Path
) -> None:
    result = validate_credit_data(built_frame, DEFAULTS, docs_dir=tmp_path / "docs")

    assert result.docs_path == tmp_path / "docs" / "index.html"
    assert SUITE_NAME in result.docs_path.read_text(encoding="utf-8")


def test_given_a_working_directory_when_validated_then_nothing_is_written_outside_docs_dir(
    built_frame: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    assert validate_credit_data(built_frame, DEFAULTS).docs_path is None
    assert list(tmp_path.iterdir()) == []

    validate_credit_data(built_frame, DEFAULTS, docs_dir=Path("site"))
    assert not (tmp_path / "gx").exists()
    assert [path.name for path in tmp_path.iterdir()] == ["site"]


def test_given_failed_result_when_ensured_then_error_has_one_line_naming_the_column(
    built_frame: pd.DataFrame,
) -> None:
    built_frame.loc[[3, 8], "currentRatio"] = np.inf
    result = validate_credit_data(built_frame, DEFAULTS)

    with pytest.raises(DataValidationError) as caught:
        ensure_valid(result)

    message = str(caught.value)
    assert "\n" not in message
    assert "currentRatio" in message
    assert caught.value.report == result.report()
    assert len(caught.value.report.splitlines()) > 1


def test_given_passing_result_when_ensured_then_nothing_is_raised(
    built_frame: pd.DataFrame,
) -> None:
    ensure_valid(validate_credit_data(built_frame, DEFAULTS))
