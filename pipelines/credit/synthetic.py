"""Seeded synthetic credit ratings in exactly the schema of Kaggle's ``corporate_rating.csv``.

The pipeline, tests and demos run without the real file: companies get a latent credit
quality, agencies rate them a few times over 2005..2016, and the 25 ratios are derived
from a small set of fundamentals, so they keep the real identities (equity multiplier =
1 + debt/equity, ROA = net margin x asset turnover) and the real heavy tails.
``SyntheticParams.noise`` blends the quality signal with noise: 0 is clean, 1 is noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.credit.schema import (
    AGENCIES,
    AGENCY,
    ALL_COLUMNS,
    DATE,
    NAME,
    RATING,
    RATIO_COLUMNS,
    SECTOR,
    SECTORS,
    SYMBOL,
)
from pipelines.credit.validate import RATIO_LIMITS
from senim.atomic_files import write_csv_atomically
from senim.config import SyntheticParams

# Agency labels best first; a notch index is a position in this tuple.
NOTCHED_RATINGS: tuple[str, ...] = (
    "AAA", "AA+", "AA", "AA-", "A+", "A", "A-", "BBB+", "BBB", "BBB-",
    "BB+", "BB", "BB-", "B+", "B", "B-", "CCC+", "CCC", "CCC-", "CC", "C", "D",
)  # fmt: skip
_BASE_NOTCHES: dict[str, tuple[int, ...]] = {
    "AAA": (0,), "AA": (1, 2, 3), "A": (4, 5, 6), "BBB": (7, 8, 9), "BB": (10, 11, 12),
    "B": (13, 14, 15), "CCC": (16, 17, 18), "CC": (19,), "C": (20,), "D": (21,),
}  # fmt: skip
# Rows per base label in the full Kaggle file (2,029 rows).
_REAL_BASE_COUNTS: dict[str, int] = {
    "AAA": 7, "AA": 89, "A": 398, "BBB": 671, "BB": 490,
    "B": 302, "CCC": 64, "CC": 5, "C": 2, "D": 1,
}  # fmt: skip
_BAND_BASES: tuple[tuple[str, ...], ...] = (  # best band first
    ("AAA", "AA"), ("A",), ("BBB",), ("BB",), ("B",), ("CCC", "CC", "C", "D"),
)  # fmt: skip
# Junk is 3.5% of the real file; raised so every band survives 5-fold CV with SMOTE k=5
# after the agency offsets lift some Junk-quality companies into B.
_MIN_BAND_SHARE = 0.075
_NOTCH_SPLIT = (0.3, 0.4, 0.3)  # +, plain, -
_LAST_ORDINARY_NOTCH = 18  # CCC-: drift never walks a company into CC, C or D
_AGENCY_WEIGHTS: dict[str, int] = {
    "Standard & Poor's Ratings Services": 744,
    "Egan-Jones Ratings Company": 603,
    "Moody's Investors Service": 579,
    "Fitch Ratings": 100,
    "DBRS": 3,
}
# Agencies rate on different scales: in the real file Egan-Jones rates the same kind of
# company about a band better than S&P. Notches added to a rating (negative: better),
# applied to the label only, so the ratios describe the company and the agency the scale.
_AGENCY_NOTCH_OFFSET: dict[str, float] = {
    "Standard & Poor's Ratings Services": 0.0,
    "Egan-Jones Ratings Company": -2.0,
    "Moody's Investors Service": -0.5,
    "Fitch Ratings": -1.0,
    "DBRS": -1.0,
}
_FIRST_DAY = date(2005, 1, 3)
_LAST_DAY = date(2016, 12, 23)


@dataclass(frozen=True)
class _Sector:
    weight: int  # rows in the full Kaggle file
    current_ratio: float
    asset_turnover: float
    gross_margin: float
    gross_is_one: float  # share of rows where the filings give no cost of revenue
    operating_margin: float
    fixed_asset_turnover: float
    days_sales: float
    debt_ratio: float
    words: tuple[str, ...]


# Medians taken from the real file per sector; words make the names plausible.
_SECTORS: dict[str, _Sector] = {
    "Basic Industries": _Sector(260, 2.2, 0.80, 0.23, 0.05, 0.10, 2.1, 40, 0.61,
                                ("Materials", "Chemicals", "Steel", "Minerals", "Paper")),
    "Capital Goods": _Sector(233, 1.85, 0.93, 0.26, 0.02, 0.11, 6.9, 47, 0.64,
                             ("Industries", "Machinery", "Aerospace", "Controls", "Engineering")),
    "Consumer Durables": _Sector(74, 1.25, 1.20, 0.19, 0.02, 0.09, 5.9, 35, 0.75,
                                 ("Motors", "Homes", "Appliances", "Furniture")),
    "Consumer Non-Durables": _Sector(132, 1.4, 1.05, 0.37, 0.02, 0.12, 5.5, 30, 0.69,
                                     ("Foods", "Brands", "Beverages", "Apparel")),
    "Consumer Services": _Sector(250, 1.35, 0.60, 0.47, 0.10, 0.12, 3.1, 29, 0.66,
                                 ("Media", "Stores", "Entertainment", "Restaurants", "Hotels")),
    "Energy": _Sector(294, 1.35, 0.37, 0.60, 0.50, 0.12, 0.6, 44, 0.57,
                      ("Energy", "Petroleum", "Resources", "Oil & Gas", "Drilling")),
    "Finance": _Sector(50, 1.2, 0.34, 0.60, 0.55, 0.18, 15.0, 58, 0.69,
                       ("Financial", "Capital", "Bancorp", "Investments")),
    "Health Care": _Sector(171, 1.65, 0.75, 0.60, 0.05, 0.13, 5.7, 50, 0.61,
                           ("Health", "Pharmaceuticals", "Medical", "Biosciences")),
    "Miscellaneous": _Sector(57, 1.45, 0.83, 0.40, 0.05, 0.12, 13.0, 46, 0.76,
                             ("Services", "Enterprises", "Partners")),
    "Public Utilities": _Sector(211, 0.87, 0.32, 0.70, 0.55, 0.15, 0.5, 40, 0.70,
                                ("Power", "Electric", "Gas & Electric", "Water", "Utilities")),
    "Technology": _Sector(234, 1.6, 0.72, 0.44, 0.03, 0.13, 7.8, 56, 0.60,
                          ("Systems", "Software", "Semiconductor", "Networks", "Data")),
    "Transportation": _Sector(63, 1.2, 0.39, 0.60, 0.50, 0.13, 0.46, 33, 0.62,
                              ("Airlines", "Logistics", "Railroad", "Shipping")),
}  # fmt: skip
assert tuple(sorted(_SECTORS)) == tuple(sorted(SECTORS))

_NAME_STEMS = (
    "Acme", "Northwind", "Blue Ridge", "Summit", "Redwood", "Granite", "Harbor", "Pioneer",
    "Meridian", "Lakeshore", "Cascade", "Ironwood", "Silverline", "Keystone", "Evergreen",
    "Atlas", "Beacon", "Crescent", "Falcon", "Frontier", "Highland", "Liberty", "Magnolia",
    "Orion", "Prairie", "Quantum", "Sterling", "Tidewater", "Vanguard", "Westbrook",
    "Allied", "Bayview", "Continental", "Delta", "Eastgate", "Fairmont", "Great Plains",
    "Horizon", "Imperial", "Juniper", "Kingsley", "Lexington", "Monarch", "Northstar",
    "Oakmont", "Pacific", "Riverside", "Sequoia", "Trident", "Union", "Ventura", "Whitman",
)  # fmt: skip
_PLAIN_SUFFIXES = ("Inc.", "Corporation", "Corp.", "Company", "Group", "Co.", "plc", "N.V.", "Ltd.")
_COMMA_SUFFIXES = ("Inc.", "L.P.", "Ltd.", "LLC", "Holdings, Inc.")


def generate_credit_ratings(params: SyntheticParams) -> pd.DataFrame:
    """One row per rating, columns in ``ALL_COLUMNS`` order; the same seed gives the same frame."""
    rng = np.random.default_rng(params.seed)
    n = params.n_companies
    sectors = rng.choice(SECTORS, size=n, p=_normalised([_SECTORS[s].weight for s in SECTORS]))
    names = _company_names(rng, sectors)
    symbols = _symbols(rng, names)
    latent = _company_quality(rng, n)
    counts = _ratings_per_company(rng, n, params)

    company = np.repeat(np.arange(n), counts)
    notch_position = np.concatenate([_rating_path(rng, latent[c], k) for c, k in enumerate(counts)])
    dates = np.concatenate([_rating_dates(rng, k) for k in counts])
    agencies = rng.choice(
        AGENCIES, size=len(company), p=_normalised([_AGENCY_WEIGHTS[a] for a in AGENCIES])
    )
    scale = np.array([_AGENCY_NOTCH_OFFSET[a] for a in agencies])
    rated = notch_position + scale  # never worse, so never into CC, C or D by drift
    notches = np.clip(np.rint(rated), 0, len(NOTCHED_RATINGS) - 1).astype(int)

    ratios = _ratios(rng, notch_position, company, sectors[company], params.noise, params.drift)
    frame = pd.DataFrame(
        {
            RATING: np.asarray(NOTCHED_RATINGS, dtype=object)[notches],
            NAME: names[company],
            SYMBOL: symbols[company],
            AGENCY: agencies.astype(object),
            DATE: dates,
            SECTOR: sectors[company].astype(object),
            **ratios,
        }
    )
    order = rng.permutation(len(frame))
    return frame.iloc[order].reset_index(drop=True)[list(ALL_COLUMNS)]


def write_synthetic_credit_csv(path: str | Path, params: SyntheticParams) -> Path:
    """Write the synthetic frame as CSV atomically, so a reader never sees half a file."""
    return write_csv_atomically(generate_credit_ratings(params), Path(path))


def _normalised(weights: list[float] | np.ndarray) -> np.ndarray:
    weights = np.asarray(weights, dtype=float)
    return weights / weights.sum()


def _company_quality(rng: np.random.Generator, n: int) -> np.ndarray:
    """Latent notch position per company, bands allocated exactly so none comes up empty."""
    band_share = np.array(
        [sum(_REAL_BASE_COUNTS[b] for b in bases) for bases in _BAND_BASES], dtype=float
    )
    band_share /= band_share.sum()
    band_share[-1] = max(band_share[-1], _MIN_BAND_SHARE)
    band_share /= band_share.sum()
    per_band = np.maximum(_largest_remainder(band_share, n), 2)
    while per_band.sum() > n:  # the minimum of 2 may overshoot for tiny n: take from the largest
        per_band[np.argmax(per_band)] -= 1

    positions = []
    for bases, k in zip(_BAND_BASES, per_band, strict=True):
        base_p = _normalised([_REAL_BASE_COUNTS[b] for b in bases])
        for base in rng.choice(bases, size=k, p=base_p):
            notches = _BASE_NOTCHES[base]
            split = _NOTCH_SPLIT if len(notches) == 3 else (1.0,)
            positions.append(rng.choice(notches, p=split) + rng.uniform(-0.45, 0.45))
    return rng.permutation(np.asarray(positions))


def _largest_remainder(shares: np.ndarray, n: int) -> np.ndarray:
    raw = shares * n
    counts = np.floor(raw).astype(int)
    for i in np.argsort(counts - raw)[: n - counts.sum()]:
        counts[i] += 1
    return counts


def _ratings_per_company(rng: np.random.Generator, n: int, params: SyntheticParams) -> np.ndarray:
    """Mostly two to four ratings a company (real mean 3.4), within the configured range."""
    low, high = params.min_ratings_per_company, params.max_ratings_per_company
    return low + rng.binomial(high - low, 0.4, size=n)


def _rating_path(rng: np.random.Generator, start: float, k: int) -> np.ndarray:
    """Notch positions of one company in date order: a slow walk, at most a band from home."""
    steps = rng.normal(0.0, 0.7, size=k) * (rng.random(k) < 0.6)
    steps[0] = 0.0
    path = start + np.clip(np.cumsum(steps), -3.0, 3.0)
    if start < _LAST_ORDINARY_NOTCH + 0.5:
        path = np.clip(path, -0.4, _LAST_ORDINARY_NOTCH + 0.4)
    return path


def _rating_dates(rng: np.random.Generator, k: int) -> np.ndarray:
    """k distinct dates, sorted so that the rating walk runs forward in time."""
    span = (_LAST_DAY - _FIRST_DAY).days
    offsets = np.sort(rng.choice(span + 1, size=k, replace=False))
    days = [_FIRST_DAY + timedelta(days=int(o)) for o in offsets]
    return np.array([f"{d.month}/{d.day}/{d.year}" for d in days], dtype=object)


def _company_names(rng: np.random.Generator, sectors: np.ndarray) -> np.ndarray:
    names: list[str] = []
    taken: set[str] = set()
    for sector in sectors:
        for attempt in range(10_000):
            stem = str(rng.choice(_NAME_STEMS))
            if attempt >= 20:  # common combinations used up: two stems, as in "Acme Summit"
                stem = f"{stem} {rng.choice(_NAME_STEMS)}"
            word = str(rng.choice(_SECTORS[sector].words))
            if rng.random() < 0.15:
                suffix = str(rng.choice(_COMMA_SUFFIXES))
                name = f"{stem} {word}{'' if suffix.startswith('Holdings') else ','} {suffix}"
            else:
                name = f"{stem} {word} {rng.choice(_PLAIN_SUFFIXES)}"
            if name not in taken:
                break
        taken.add(name)
        names.append(name)
    return np.asarray(names, dtype=object)


def _symbols(rng: np.random.Generator, names: np.ndarray) -> np.ndarray:
    """Ticker-like symbols from the name's letters, unique so Symbol maps 1:1 to Name."""
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    symbols: list[str] = []
    taken: set[str] = set()
    for name in names:
        words = [w for w in name.replace(",", " ").replace("&", " ").split() if w[0].isalpha()]
        initials = "".join(w[0] for w in words[:3]).upper()
        candidates = [words[0][:3].upper(), initials, words[0][:2].upper() + words[1][0].upper()]
        symbol = next((c for c in candidates if c.isalpha() and c not in taken), None)
        while symbol is None or symbol in taken:
            symbol = words[0][0].upper() + "".join(
                rng.choice(letters, size=int(rng.integers(2, 4)))
            )
        taken.add(symbol)
        symbols.append(symbol)
    return np.asarray(symbols, dtype=object)


def _ratios(
    rng: np.random.Generator,
    notch_position: np.ndarray,
    company: np.ndarray,
    sector_names: np.ndarray,
    noise: float,
    drift: float = 0.0,
) -> dict[str, np.ndarray]:
    """The 25 ratios from a health score h (higher is better) plus company and row noise.

    ``drift`` (``synthetic.drift``) is the monitoring demo's downturn: every company's
    ratios look ``3 * drift`` notches worse than its rating, as when agencies have not yet
    re-rated a sector in trouble. Features, predicted bands and scores move; the rating
    mix stays, so every band keeps its companies. No random numbers are drawn for it, so
    ``drift: 0`` is exactly the ordinary data."""
    m = len(notch_position)
    n_companies = company.max() + 1

    def per_company(scale: float) -> np.ndarray:
        return rng.normal(0.0, scale, size=n_companies)[company]

    def per_row(scale: float) -> np.ndarray:
        return rng.normal(0.0, scale, size=m)

    def heavy(scale: float, df: float = 3.0) -> np.ndarray:
        return scale * rng.standard_t(df, size=m)

    def heavy_company(scale: float) -> np.ndarray:
        return scale * rng.standard_t(4.0, size=n_companies)[company]

    sec = {field: np.array([getattr(_SECTORS[s], field) for s in sector_names])
           for field in _Sector.__dataclass_fields__ if field != "words"}  # fmt: skip

    quality = (9.0 - notch_position - 3.0 * drift) / 4.0  # about +2 for AAA, -2.3 for CCC-
    disturbance = 0.6 * per_company(1.0) + 0.8 * per_row(1.0)
    h = (1.0 - noise) * quality + noise * disturbance * 0.4

    asset_turnover = sec["asset_turnover"] * np.exp(per_company(0.35) + per_row(0.08) + 0.03 * h)
    operating = sec["operating_margin"] + 0.07 * h + per_company(0.015) + heavy(0.008)
    gross = np.clip(sec["gross_margin"] + per_company(0.1) + per_row(0.02), 0.03, 1.0)
    gross = np.where(rng.random(m) < sec["gross_is_one"], 1.0, np.maximum(gross, operating))
    interest = 0.01 + 0.02 * np.exp(-0.8 * h) + np.abs(per_row(0.005))
    pretax = operating - interest + heavy(0.01)
    ebit = np.where(rng.random(m) < 0.6, pretax, pretax + np.abs(per_row(0.01)))
    tax = np.clip(0.3 + 0.02 * h + per_company(0.04) + heavy(0.03), -0.5, 0.8)
    tax = np.where(pretax < 0, rng.uniform(-0.6, 0.4, size=m), tax)
    net = pretax * (1.0 - tax)
    roa = net * asset_turnover

    debt_logit = np.log(sec["debt_ratio"] / (1 - sec["debt_ratio"])) - 0.55 * h
    debt_ratio = 1.0 / (1.0 + np.exp(-(debt_logit + per_company(0.15) + per_row(0.06))))
    insolvent = (quality < -1.7) & (rng.random(m) < 0.2)
    debt_ratio = np.where(insolvent, 1.0 + np.abs(per_row(0.15)) + 0.01, debt_ratio)
    debt_equity = debt_ratio / (1.0 - debt_ratio)
    equity_multiplier = 1.0 + debt_equity
    roe = roa * equity_multiplier
    current_liabilities = np.clip(0.2 + per_company(0.05), 0.05, 0.5)
    roce = ebit * asset_turnover / (1.0 - current_liabilities)

    current = sec["current_ratio"] * np.exp(0.12 * h + heavy_company(0.3) + per_row(0.1))
    quick = current * rng.beta(6, 3, size=n_companies)[company] * np.exp(per_row(0.05))
    cash = quick * rng.beta(2, 4, size=n_companies)[company] * np.exp(0.15 * h + per_row(0.15))
    days_sales = sec["days_sales"] * np.exp(heavy_company(0.3) + per_row(0.1))
    days_sales = np.where(rng.random(m) < 0.04, 0.0, days_sales)
    fixed_turnover = sec["fixed_asset_turnover"] * np.exp(heavy_company(0.7) + per_row(0.1))
    payables = 5.7 * np.exp(per_company(0.5) + per_row(0.15))
    payables = np.where(rng.random(m) < 0.04, 0.0, payables)

    ocf_sales = operating + np.clip(0.06 + per_company(0.03), 0.0, None) + heavy(0.01)
    fcf_ocf = np.clip(0.6 + 0.08 * h + per_company(0.15) + heavy(0.08), -3.0, 1.0)
    revenue_per_share = np.exp(np.log(30.0) + heavy_company(0.7) + per_row(0.1))
    ocf_per_share = ocf_sales * revenue_per_share
    fcf_per_share = ocf_per_share * fcf_ocf
    cash_per_share = revenue_per_share * np.exp(np.log(0.12) + per_company(0.6) + per_row(0.2))
    ebitda_margin = operating + 0.05
    ev_multiple = np.where(
        ebitda_margin > 0.01,
        9.5 * np.exp(0.1 * h + per_company(0.3) + per_row(0.15)),
        -np.exp(rng.normal(np.log(8.0), 1.0, size=m)),
    )

    ratios = {
        "currentRatio": current,
        "quickRatio": quick,
        "cashRatio": cash,
        "daysOfSalesOutstanding": days_sales,
        "netProfitMargin": net,
        "pretaxProfitMargin": pretax,
        "grossProfitMargin": gross,
        "operatingProfitMargin": operating,
        "returnOnAssets": roa,
        "returnOnCapitalEmployed": roce,
        "returnOnEquity": roe,
        "assetTurnover": asset_turnover,
        "fixedAssetTurnover": fixed_turnover,
        "debtEquityRatio": debt_equity,
        "debtRatio": debt_ratio,
        "effectiveTaxRate": tax,
        "freeCashFlowOperatingCashFlowRatio": fcf_ocf,
        "freeCashFlowPerShare": fcf_per_share,
        "cashPerShare": cash_per_share,
        "companyEquityMultiplier": equity_multiplier,
        "ebitPerRevenue": ebit,
        "enterpriseValueMultiple": ev_multiple,
        "operatingCashFlowPerShare": ocf_per_share,
        "operatingCashFlowSalesRatio": ocf_sales,
        "payablesTurnover": payables,
    }
    _add_outliers(rng, ratios, m)
    # Heavy tails and outliers stay within the hard limits every real row meets, so any
    # seed validates (a monitor-triggered retraining draws a fresh seed).
    return {
        col: np.clip(ratios[col], *RATIO_LIMITS[col]).astype(np.float64) for col in RATIO_COLUMNS
    }


def _add_outliers(rng: np.random.Generator, ratios: dict[str, np.ndarray], m: int) -> None:
    """About 1% of rows get one absurd value, like the real file's 5.7e6 free cash flow/share."""
    per_share = ("freeCashFlowPerShare", "cashPerShare", "operatingCashFlowPerShare")
    bounded = ("debtRatio", "debtEquityRatio", "companyEquityMultiplier")  # identities kept
    candidates = [c for c in RATIO_COLUMNS if c not in bounded]
    for row in np.flatnonzero(rng.random(m) < 0.01):
        column = str(rng.choice(candidates))
        if column in per_share:  # a share count in the wrong unit or currency
            ratios[column][row] *= 10 ** rng.uniform(3, 5)
        else:
            ratios[column][row] *= 10 ** rng.uniform(1, 2.5) * rng.choice([1.0, -1.0], p=[0.8, 0.2])
