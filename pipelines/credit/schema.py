"""The credit data contract: the columns of Kaggle's ``corporate_rating.csv``.

Every source (synthetic generator, CSV, PostgreSQL) is brought to exactly these columns
before it is snapshotted, so validation, training and prediction read one schema.
"""

from __future__ import annotations

from models.credit_inputs import FeatureColumns

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

AGENCIES: tuple[str, ...] = (
    "Standard & Poor's Ratings Services",
    "Egan-Jones Ratings Company",
    "Moody's Investors Service",
    "Fitch Ratings",
    "DBRS",
)

# Dates are written M/D/YYYY in the original file.
DATE_FORMAT = "%m/%d/%Y"

# What the candidate pipelines read, in the model definitions' terms.
MODEL_INPUTS = FeatureColumns(ratios=RATIO_COLUMNS, sector=SECTOR)
