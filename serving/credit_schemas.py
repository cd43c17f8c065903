"""Request and response bodies of the credit scoring service.

A request is one row of the ``corporate_rating`` schema: the 25 ratios and the sector,
by their schema names (``currentRatio``) or as snake_case (``current_ratio``), plus the
optional identity columns. ``Rating Agency Name`` (one of the known agencies: the scale
to rate on) and ``Date`` (M/D/YYYY, not in the future: the rating's date) are optional
and scored; without them a request is rated on ``scoring.default_rating_agency``'s scale
as of the day it is scored (``pipelines.credit.scoring_inputs``). Bad input is refused
with the field named, never coerced: strings and booleans in numeric fields, NaN,
infinity, unknown fields, unknown sectors and agencies, future dates are all errors.
Ratio bounds come from ``pipelines.credit.validate``: the hard limits every training row
met, and zero as the floor where an accounting identity makes a negative value
impossible (the ``RATIO_NORMS`` floors of 0, and ``debtRatio``). Training tolerates the
vendor's rare negatives because history cannot be corrected; an applicant can.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    create_model,
    field_validator,
)

from pipelines.credit.decision import Decision
from pipelines.credit.rating_bands import ALLOWED_RATINGS, BANDS
from pipelines.credit.reason_codes import Effect, ReasonMethod
from pipelines.credit.schema import AGENCIES, FEATURE_COLUMNS, RATIO_COLUMNS, SECTOR, SECTORS
from pipelines.credit.scoring_inputs import ScoringDefaults, ScoringRows, check_rating_date
from pipelines.credit.validate import RATIO_LIMITS, RATIO_NORMS
from senim.text_fields import plain_text

MAX_BATCH = 1000

# Ratios that are quotients of non-negative amounts (assets, cash, days, revenue, costs).
NON_NEGATIVE_RATIOS: frozenset[str] = frozenset(
    [column for column, (low, _) in RATIO_NORMS.items() if low == 0]
    + [column for column, (low, _) in RATIO_LIMITS.items() if low == 0]
)


CompanyName = plain_text(200, min_length=1)
TickerSymbol = plain_text(20, min_length=1)
RatingDate = Annotated[str, Field(max_length=10), AfterValidator(check_rating_date)]


def _ratio(column: str) -> Any:
    """A required, finite, strictly numeric ratio (ints allowed) within its bounds."""
    low, high = RATIO_LIMITS[column]
    return Field(
        alias=column,
        strict=True,
        allow_inf_nan=False,
        ge=0 if column in NON_NEGATIVE_RATIOS else low,
        le=high,
    )


class _Body(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True
    )


class CreditApplication(_Body):
    """One company's ratios and sector, and optionally the agency scale and date to rate
    on; Rating, Name and Symbol are identity, never scored."""

    current_ratio: float = _ratio("currentRatio")
    quick_ratio: float = _ratio("quickRatio")
    cash_ratio: float = _ratio("cashRatio")
    days_of_sales_outstanding: float = _ratio("daysOfSalesOutstanding")
    net_profit_margin: float = _ratio("netProfitMargin")
    pretax_profit_margin: float = _ratio("pretaxProfitMargin")
    gross_profit_margin: float = _ratio("grossProfitMargin")
    operating_profit_margin: float = _ratio("operatingProfitMargin")
    return_on_assets: float = _ratio("returnOnAssets")
    return_on_capital_employed: float = _ratio("returnOnCapitalEmployed")
    return_on_equity: float = _ratio("returnOnEquity")
    asset_turnover: float = _ratio("assetTurnover")
    fixed_asset_turnover: float = _ratio("fixedAssetTurnover")
    debt_equity_ratio: float = _ratio("debtEquityRatio")
    debt_ratio: float = _ratio("debtRatio")
    effective_tax_rate: float = _ratio("effectiveTaxRate")
    free_cash_flow_operating_cash_flow_ratio: float = _ratio("freeCashFlowOperatingCashFlowRatio")
    free_cash_flow_per_share: float = _ratio("freeCashFlowPerShare")
    cash_per_share: float = _ratio("cashPerShare")
    company_equity_multiplier: float = _ratio("companyEquityMultiplier")
    ebit_per_revenue: float = _ratio("ebitPerRevenue")
    enterprise_value_multiple: float = _ratio("enterpriseValueMultiple")
    operating_cash_flow_per_share: float = _ratio("operatingCashFlowPerShare")
    operating_cash_flow_sales_ratio: float = _ratio("operatingCashFlowSalesRatio")
    payables_turnover: float = _ratio("payablesTurnover")
    sector: Literal[SECTORS] = Field(alias=SECTOR)  # type: ignore[valid-type]

    rating: Literal[ALLOWED_RATINGS] | None = Field(None, alias="Rating")  # type: ignore[valid-type]
    name: CompanyName | None = Field(None, alias="Name")
    symbol: TickerSymbol | None = Field(None, alias="Symbol")
    rating_agency_name: Literal[AGENCIES] | None = Field(  # type: ignore[valid-type]
        None,
        alias="Rating Agency Name",
        description="The agency whose scale to rate on; default scoring.default_rating_agency.",
    )
    date: RatingDate | None = Field(
        None,
        alias="Date",
        description="The rating's date, M/D/YYYY, not in the future; default: today.",
    )


_FIELD_OF_COLUMN: dict[str, str] = {
    field.alias: name
    for name, field in CreditApplication.model_fields.items()
    if field.alias in FEATURE_COLUMNS
}


_RATIO_FIELDS: tuple[str, ...] = tuple(_FIELD_OF_COLUMN[column] for column in RATIO_COLUMNS)


def ratio_matrix(applications: Sequence[CreditApplication]) -> np.ndarray:
    """(n, 25) float64, RATIO_COLUMNS order: the ratios without building a DataFrame."""
    return np.array(
        [[getattr(app, name) for name in _RATIO_FIELDS] for app in applications],
        dtype=np.float64,
    ).reshape(len(applications), len(_RATIO_FIELDS))


def scoring_rows(
    applications: Sequence[CreditApplication], defaults: ScoringDefaults
) -> ScoringRows:
    """What the model scores: ratios, sector, and the agency and date (or defaults)."""
    return ScoringRows.of(
        ratio_matrix(applications),
        [app.sector for app in applications],
        [app.rating_agency_name for app in applications],
        [app.date for app in applications],
        defaults,
    )


def to_frame(applications: Sequence[CreditApplication], defaults: ScoringDefaults) -> pd.DataFrame:
    """The model's input: MODEL_COLUMNS in order, ratios float64, the rest as text."""
    return scoring_rows(applications, defaults).frame()


class CreditBatch(_Body):
    """1 to ``MAX_BATCH`` applications; ``CreditBatch.limited_to(n)`` for a configured max."""

    applications: list[CreditApplication] = Field(min_length=1, max_length=MAX_BATCH)

    @classmethod
    def limited_to(cls, max_batch: int) -> type[CreditBatch]:
        """A CreditBatch model that accepts at most ``max_batch`` applications."""
        return _limited_batch(max_batch)


@cache
def _limited_batch(max_batch: int) -> type[CreditBatch]:
    # Cached so a service built twice with one limit shares one class (and one schema).
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
        raise ValueError(f"max_batch must be a positive integer, got {max_batch!r}")
    return create_model(
        "CreditBatch",
        __base__=CreditBatch,
        __module__=__name__,
        applications=(list[CreditApplication], Field(min_length=1, max_length=max_batch)),
    )


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReasonCode(_Response):
    """A feature that moved this score; ``contribution`` is in score points (0-100 scale)."""

    feature: str
    label: str
    value: float | None
    effect: Effect
    contribution: float
    method: ReasonMethod


class Lineage(_Response):
    model_name: str
    model_version: str
    run_id: str | None = None
    data_version: str | None = None
    request_id: str


class CreditScore(_Response):
    rating_band: Literal[BANDS]  # type: ignore[valid-type]
    band_code: int = Field(ge=0, le=len(BANDS) - 1)
    probabilities: dict[str, Annotated[float, Field(ge=0, le=1)]]
    score: float = Field(ge=0, le=100)
    confidence: float = Field(ge=0, le=1)
    decision: Decision
    reasons: list[ReasonCode]
    lineage: Lineage

    @field_validator("probabilities")
    @classmethod
    def _best_band_first(cls, value: dict[str, float]) -> dict[str, float]:
        """Exactly the six bands, reordered A+ .. Junk as a credit officer reads them."""
        if set(value) != set(BANDS):
            raise ValueError(f"must have exactly the bands {', '.join(reversed(BANDS))}")
        return {band: value[band] for band in reversed(BANDS)}


class CreditScoreBatch(_Response):
    results: list[CreditScore]
