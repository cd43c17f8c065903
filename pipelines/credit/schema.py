"""The credit data contract: the columns of Kaggle's ``corporate_rating.csv``.

Every source (synthetic generator, CSV, PostgreSQL) is brought to exactly these columns
before it is snapshotted, so validation, training and prediction read one schema.
"""

from __future__ import annotations

from models.credit_inputs import FeatureColumns, FeatureRecipe
from senim.config import CREDIT_RATING_AGENCIES, FeatureParams

RATING = "Rating"
NAME = "Name"
SYMBOL = "Symbol"
AGENCY = "Rating Agency Name"
DATE = "Date"
SECTOR = "Sector"

ID_COLUMNS: tuple[str, ...] = (RATING, NAME, SYMBOL, AGENCY, DATE, SECTOR)

RATIO_COLUMNS: tuple[str, ...] = (
    "currentRatio",
    "quickRatio",
    "cashRatio",
    "daysOfSalesOutstanding",
    "netProfitMargin",
    "pretaxProfitMargin",
    "grossProfitMargin",
    "operatingProfitMargin",
    "returnOnAssets",
    "returnOnCapitalEmployed",
    "returnOnEquity",
    "assetTurnover",
    "fixedAssetTurnover",
    "debtEquityRatio",
    "debtRatio",
    "effectiveTaxRate",
    "freeCashFlowOperatingCashFlowRatio",
    "freeCashFlowPerShare",
    "cashPerShare",
    "companyEquityMultiplier",
    "ebitPerRevenue",
    "enterpriseValueMultiple",
    "operatingCashFlowPerShare",
    "operatingCashFlowSalesRatio",
    "payablesTurnover",
)

ALL_COLUMNS: tuple[str, ...] = ID_COLUMNS + RATIO_COLUMNS

# What a scoring request must carry: the ratios and the sector. Rating, Name, Symbol,
# agency and date are optional at prediction time.
FEATURE_COLUMNS: tuple[str, ...] = RATIO_COLUMNS + (SECTOR,)
# What a model may read: the required features plus the rating's scale (the agency) and
# its date. A request without them gets the documented defaults (``scoring_defaults``).
MODEL_COLUMNS: tuple[str, ...] = FEATURE_COLUMNS + (AGENCY, DATE)

SECTORS: tuple[str, ...] = (
    "Basic Industries",
    "Capital Goods",
    "Consumer Durables",
    "Consumer Non-Durables",
    "Consumer Services",
    "Energy",
    "Finance",
    "Health Care",
    "Miscellaneous",
    "Public Utilities",
    "Technology",
    "Transportation",
)

# The agencies in the Kaggle file; a rating is on one of their scales.
AGENCIES: tuple[str, ...] = CREDIT_RATING_AGENCIES

# Dates are written M/D/YYYY in the original file.
DATE_FORMAT = "%m/%d/%Y"

# The thesis's inputs: the ratios and the sector, nothing else.
THESIS_INPUTS = FeatureColumns(ratios=RATIO_COLUMNS, categories=(SECTOR,))


def model_recipe(features: FeatureParams) -> FeatureRecipe:
    """What the candidate pipelines read (``features`` in params.yaml), in the model
    definitions' terms."""
    columns = FeatureColumns(
        ratios=RATIO_COLUMNS,
        categories=tuple(features.categorical),
        rating_date=DATE if features.rating_year else None,
    )
    return FeatureRecipe(
        columns=columns,
        knn_neighbors=features.knn_neighbors,
        ratio_transform=features.ratio_transform,
    )


def thesis_recipe(features: FeatureParams) -> FeatureRecipe:
    return FeatureRecipe(columns=THESIS_INPUTS, knn_neighbors=features.knn_neighbors)
