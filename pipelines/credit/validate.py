"""Data validation stage: the Great Expectations suite every credit snapshot must pass
(run by ``pipelines.common.gx_suite``; GX is imported inside the functions that need it)."""

from __future__ import annotations

import math
import numbers
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from pipelines.common.gx_suite import (
    ExpectationFailure,
    bounds_text,
    exception_message,
    run_suite,
    unexpected_examples,
)
from pipelines.credit.rating_bands import ALLOWED_RATINGS, BANDS, rating_to_band
from pipelines.credit.schema import (
    AGENCIES,
    AGENCY,
    ALL_COLUMNS,
    DATE,
    DATE_FORMAT,
    NAME,
    RATING,
    RATIO_COLUMNS,
    SECTOR,
    SECTORS,
)
from senim.config import ValidationParams
from senim.errors import DataValidationError

if TYPE_CHECKING:
    from great_expectations import ExpectationSuite
    from great_expectations.core import ExpectationValidationResult

SUITE_NAME = "credit_ratings"

# Every row must fall inside these limits. They sit about ten times beyond the extremes of
# the real dev file, so a breach means a unit, parsing or sign-flip error, not an outlier.
RATIO_LIMITS: dict[str, tuple[float, float]] = {
    "currentRatio": (-10, 1e4),
    "quickRatio": (-10, 1e4),
    "cashRatio": (-10, 1e4),
    "daysOfSalesOutstanding": (-1e4, 1e6),
    "netProfitMargin": (-1e4, 1e4),
    "pretaxProfitMargin": (-1e4, 1e4),
    "grossProfitMargin": (-1e3, 1e3),
    "operatingProfitMargin": (-1e4, 1e4),
    "returnOnAssets": (-1e4, 1e4),
    "returnOnCapitalEmployed": (-1e3, 1e3),
    "returnOnEquity": (-1e4, 1e4),
    "assetTurnover": (-1e3, 1e4),
    "fixedAssetTurnover": (-1e3, 1e6),
    "debtEquityRatio": (-1e5, 1e5),
    "debtRatio": (0, 100),
    "effectiveTaxRate": (-1e3, 1e3),
    "freeCashFlowOperatingCashFlowRatio": (-1e3, 1e3),
    "freeCashFlowPerShare": (-1e8, 1e8),
    "cashPerShare": (-1e8, 1e8),
    "companyEquityMultiplier": (-1e5, 1e5),
    "ebitPerRevenue": (-1e4, 1e4),
    "enterpriseValueMultiple": (-1e5, 1e6),
    "operatingCashFlowPerShare": (-1e8, 1e8),
    "operatingCashFlowSalesRatio": (-1e3, 1e4),
    "payablesTurnover": (-1e3, 1e6),
}

# Accounting rules the vendor data itself breaks now and then (dev file: at most 0.95% of
# rows, e.g. WPP plc's negative current ratios), so they hold for NORM_MOSTLY of the rows.
RATIO_NORMS: dict[str, tuple[float | None, float | None]] = {
    "currentRatio": (0, None),
    "quickRatio": (0, None),
    "cashRatio": (0, None),
    "daysOfSalesOutstanding": (0, None),
    "grossProfitMargin": (None, 1),
    "assetTurnover": (0, None),
    "fixedAssetTurnover": (0, None),
    "effectiveTaxRate": (-10, 10),
    "cashPerShare": (0, None),
    "payablesTurnover": (0, None),
}
NORM_MOSTLY = 0.98

RATIO_DTYPES = ["float64", "float32", "int64", "int32"]
STRICT_NON_NULL = (RATING, NAME, SECTOR)  # rows without them cannot be labelled or grouped
DUPLICATE_COLUMN = "_duplicate_row"
_SUMMARY_PIECES = 8
_NOT_RUN = "not run: column missing"


def band_count_column(band: str) -> str:
    """Derived 0/1 column marking the rows of one band, so GX can sum a band's rows."""
    return f"_rows_in_band_{band}"


@dataclass(frozen=True)
class ValidationResult:
    success: bool
    evaluated: int
    failures: list[ExpectationFailure]
    docs_path: Path | None

    def report(self) -> str:
        """Multi-line text report: one line per failed expectation."""
        if self.success:
            head = f"data validation passed: {self.evaluated} expectations met"
        else:
            head = f"data validation failed: {len(self.failures)} of {self.evaluated} expectations"
        lines = [head, *(failure.line() for failure in self.failures)]
        if self.docs_path is not None:
            lines.append(f"Data Docs: {self.docs_path}")
        return "\n".join(lines)

    def summary(self) -> str:
        """One line naming each failing column and what is wrong with it."""
        if self.success:
            return f"data validation passed: {self.evaluated} expectations met"
        pieces = list(
            dict.fromkeys(
                failure.brief() for failure in self.failures if failure.problem != _NOT_RUN
            )
        )
        if len(pieces) > _SUMMARY_PIECES:
            pieces = pieces[:_SUMMARY_PIECES] + [f"{len(pieces) - _SUMMARY_PIECES} more"]
        return (
            f"data validation failed: {len(self.failures)} of {self.evaluated} expectations "
            f"({'; '.join(pieces)})"
        )


def build_credit_suite(params: ValidationParams) -> ExpectationSuite:
    """The suite a credit frame (plus the columns ``with_derived_columns`` adds) must pass."""
    import great_expectations as gx

    ex = gx.expectations
    suite: list[Any] = [
        ex.ExpectTableRowCountToBeBetween(
            min_value=params.min_rows,
            description=f"the table must have at least {params.min_rows} rows",
            meta={"problem": "rows in the table"},
        )
    ]
    for column in ALL_COLUMNS:
        suite.append(
            ex.ExpectColumnToExist(
                column=column,
                description=f"{column} must be present",
                meta={"problem": "column missing"},
            )
        )
        strict = column in STRICT_NON_NULL
        suite.append(
            ex.ExpectColumnValuesToNotBeNull(
                column=column,
                mostly=1.0 if strict else 1.0 - params.max_null_fraction,
                description=f"{column} must not be empty"
                if strict
                else f"{column} may be at most {params.max_null_fraction:.0%} empty",
                meta={"problem": "empty values"},
            )
        )
        suite.append(
            ex.ExpectColumnProportionOfNonNullValuesToBeBetween(
                column=column,
                min_value=0,
                strict_min=True,
                description=f"{column} must not be entirely empty",
                meta={"problem": "entirely empty"},
            )
        )
    for column in RATIO_COLUMNS:
        low, high = RATIO_LIMITS[column]
        suite += [
            ex.ExpectColumnValuesToBeInTypeList(
                column=column,
                type_list=RATIO_DTYPES,
                description=f"{column} must be numeric",
                meta={"problem": "non-numeric values"},
            ),
            ex.ExpectColumnValuesToBeBetween(
                column=column,
                min_value=-sys.float_info.max,
                max_value=sys.float_info.max,
                description=f"{column} must be finite",
                meta={"problem": "infinite values"},
            ),
            ex.ExpectColumnValuesToBeBetween(
                column=column,
                min_value=low,
                max_value=high,
                description=f"{column} must be between {low:g} and {high:g}",
                meta={"problem": f"values outside [{low:g}, {high:g}]"},
            ),
        ]
        if column in RATIO_NORMS:
            low_norm, high_norm = RATIO_NORMS[column]
            suite.append(
                ex.ExpectColumnValuesToBeBetween(
                    column=column,
                    min_value=low_norm,
                    max_value=high_norm,
                    mostly=NORM_MOSTLY,
                    description=(
                        f"{column} must be {bounds_text(low_norm, high_norm)} "
                        f"in at least {NORM_MOSTLY:.0%} of rows"
                    ),
                    meta={"problem": f"values not {bounds_text(low_norm, high_norm)}"},
                )
            )
    suite += [
        ex.ExpectColumnValuesToBeInSet(
            column=RATING,
            value_set=list(ALLOWED_RATINGS),
            description=f"{RATING} must be AAA..D with an optional + or - notch",
            meta={"problem": "unknown labels"},
        ),
        ex.ExpectColumnValuesToBeInSet(
            column=AGENCY,
            value_set=list(AGENCIES),
            description=f"{AGENCY} must be one of the known agencies (the rating's scale)",
            meta={"problem": "unknown agencies"},
        ),
        ex.ExpectColumnValuesToBeInSet(
            column=SECTOR,
            value_set=list(SECTORS),
            description=f"{SECTOR} must be one of the {len(SECTORS)} known sectors",
            meta={"problem": "unknown sectors"},
        ),
        ex.ExpectColumnValuesToMatchStrftimeFormat(
            column=DATE,
            strftime_format=DATE_FORMAT,
            description=f"{DATE} must be a date written M/D/YYYY",
            meta={"problem": "unparseable dates"},
        ),
        ex.ExpectColumnSumToBeBetween(
            column=DUPLICATE_COLUMN,
            max_value=params.max_duplicate_rows,
            description=f"at most {params.max_duplicate_rows} rows may repeat an earlier row",
            meta={"problem": "duplicate rows", "column": None},
        ),
    ]
    for band in BANDS:
        suite.append(
            ex.ExpectColumnSumToBeBetween(
                column=band_count_column(band),
                min_value=params.min_rows_per_band,
                description=f"band {band} must have at least {params.min_rows_per_band} rows",
                meta={"problem": f"rows in band {band}", "column": RATING},
            )
        )
    return gx.ExpectationSuite(name=SUITE_NAME, expectations=suite)


def with_derived_columns(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with positional row numbers plus the band and duplicate marker columns,
    because GX has no expectation for per-value counts or repeated whole rows."""
    frame = df.reset_index(drop=True)
    labels = frame[RATING] if RATING in frame else pd.Series([None] * len(frame), dtype=object)
    allowed = set(ALLOWED_RATINGS)
    bands = labels.map(lambda label: rating_to_band(label) if label in allowed else None)
    derived = {band_count_column(band): (bands == band).astype("int64") for band in BANDS}
    derived[DUPLICATE_COLUMN] = frame.duplicated(keep="first").astype("int64")
    return frame.assign(**derived)


def validate_credit_data(
    df: pd.DataFrame, params: ValidationParams, docs_dir: Path | None = None
) -> ValidationResult:
    """Run the credit suite on ``df``; with ``docs_dir`` also build the Data Docs site there."""
    frame = with_derived_columns(df)
    run = run_suite(
        frame, build_credit_suite(params), source="credit", asset="ratings", docs_dir=docs_dir
    )
    return ValidationResult(
        success=run.success,
        evaluated=run.evaluated,
        failures=[_failure(result, frame.columns) for result in run.failed],
        docs_path=run.docs_path,
    )


def ensure_valid(result: ValidationResult) -> None:
    """Stop the pipeline on bad data with a one-line message and the full report attached."""
    if not result.success:
        raise DataValidationError(result.summary(), result.report())


def _failure(result: ExpectationValidationResult, columns: pd.Index) -> ExpectationFailure:
    config = result.expectation_config
    meta = config.meta or {}
    gx_column = config.kwargs.get("column")
    column = meta.get("column", gx_column)
    description = config.description or config.type
    problem = meta.get("problem", description)
    details = result.result or {}
    if config.type == "expect_column_to_exist":
        return ExpectationFailure(config.type, column, 0, [], description, problem)
    if gx_column is not None and gx_column not in columns:
        return ExpectationFailure(config.type, column, 0, [], description, _NOT_RUN)
    message = exception_message(result.exception_info or {})
    if message is not None:
        return ExpectationFailure(config.type, column, 0, [], description, f"not run: {message}")
    if "unexpected_count" in details:
        count = int(details["unexpected_count"])
        examples = unexpected_examples(details)
        return ExpectationFailure(
            config.type, column, count, examples, description, f"{count} {problem}"
        )
    observed = details.get("observed_value")
    if not isinstance(observed, numbers.Real) or math.isnan(observed):
        return ExpectationFailure(config.type, column, 0, [], description, problem)
    if config.type == "expect_column_proportion_of_non_null_values_to_be_between":
        return ExpectationFailure(config.type, column, 0, [], description, problem)
    low, high = config.kwargs.get("min_value"), config.kwargs.get("max_value")
    count = int(observed)
    return ExpectationFailure(
        config.type,
        column,
        count,
        [],
        description,
        f"{count} {problem} (expected {bounds_text(low, high)})",
    )
