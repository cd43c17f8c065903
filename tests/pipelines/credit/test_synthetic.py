"""The synthetic generator: the real file's schema and shape, seeded, and learnable."""

from __future__ import annotations

import re
import time
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import f1_score
from sklearn.model_selection import GroupKFold, cross_val_predict

from pipelines.credit.rating_bands import ALLOWED_RATINGS, BANDS, group_ratings
from pipelines.credit.schema import (
    AGENCIES,
    ALL_COLUMNS,
    DATE_FORMAT,
    ID_COLUMNS,
    RATIO_COLUMNS,
    SECTORS,
)
from pipelines.credit.sources import read_credit_csv
from pipelines.credit.synthetic import generate_credit_ratings, write_synthetic_credit_csv
from senim.config import SyntheticParams


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    return generate_credit_ratings(SyntheticParams())


def test_given_default_params_when_generated_then_columns_are_the_schema_in_order(ratings):
    assert list(ratings.columns) == list(ALL_COLUMNS)
    assert all(ratings[c].dtype == np.float64 for c in RATIO_COLUMNS)
    assert all(ratings[c].map(type).eq(str).all() for c in ID_COLUMNS)


def test_given_default_params_when_generated_then_no_value_is_missing_or_infinite(ratings):
    assert not ratings.isna().any().any()
    assert np.isfinite(ratings[list(RATIO_COLUMNS)].to_numpy()).all()


def test_given_same_seed_when_generated_twice_then_frames_are_identical():
    params = SyntheticParams(seed=7, n_companies=40)
    pd.testing.assert_frame_equal(generate_credit_ratings(params), generate_credit_ratings(params))


def test_given_different_seeds_when_generated_then_frames_differ():
    first = generate_credit_ratings(SyntheticParams(seed=1, n_companies=40))
    second = generate_credit_ratings(SyntheticParams(seed=2, n_companies=40))
    assert not first.equals(second)
    assert set(first["Name"]) != set(second["Name"])


def test_given_default_params_when_generated_then_labels_come_from_the_known_vocabularies(ratings):
    assert set(ratings["Rating"]) <= set(ALLOWED_RATINGS)
    assert set(ratings["Sector"]) <= set(SECTORS)
    assert set(ratings["Rating Agency Name"]) <= set(AGENCIES)
    assert ratings["Rating"].str.endswith("+").any() and ratings["Rating"].str.endswith("-").any()


def test_given_default_params_when_generated_then_companies_have_several_ratings(ratings):
    per_company = ratings.groupby("Name").size()
    assert ratings["Name"].nunique() == 260
    assert per_company.between(1, 7).all()
    assert per_company.mean() > 2.5


def test_given_a_company_when_generated_then_it_keeps_one_sector_and_one_symbol(ratings):
    assert (ratings.groupby("Name")[["Sector", "Symbol"]].nunique() == 1).all().all()
    assert ratings.groupby("Symbol")["Name"].nunique().eq(1).all()


def test_given_fixed_ratings_per_company_when_generated_then_every_company_has_that_many():
    params = SyntheticParams(n_companies=30, min_ratings_per_company=3, max_ratings_per_company=3)
    assert generate_credit_ratings(params).groupby("Name").size().eq(3).all()


def test_given_a_company_when_generated_then_its_ratings_stay_within_about_one_band(ratings):
    codes = pd.Series(group_ratings(ratings["Rating"]), index=ratings.index)
    spread = codes.groupby(ratings["Name"]).agg(lambda c: c.max() - c.min())
    assert (spread <= 1).mean() >= 0.95


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 42])
def test_given_default_size_when_generated_then_every_band_fits_grouped_cv_with_smote(seed):
    frame = generate_credit_ratings(SyntheticParams(seed=seed))
    bands = pd.Series(group_ratings(frame["Rating"])).map(dict(enumerate(BANDS)))
    rows = bands.value_counts()
    companies = frame.groupby(bands.to_numpy())["Name"].nunique()
    assert set(rows.index) == set(BANDS)
    assert rows.min() >= 30  # 5 folds leave >= 24 rows per band, SMOTE k=5 needs 6
    assert companies.min() >= 8
    assert rows["Junk"] / len(frame) >= 0.04


def test_given_dates_when_generated_then_they_parse_as_unpadded_m_d_yyyy_in_2005_to_2016(ratings):
    assert ratings["Date"].str.fullmatch(r"[1-9]\d?/[1-9]\d?/\d{4}").all()
    parsed = pd.to_datetime(ratings["Date"], format=DATE_FORMAT)
    assert parsed.dt.year.between(2005, 2016).all()
    assert not ratings.duplicated(["Name", "Date"]).any()


def test_given_names_with_commas_when_written_and_read_then_they_round_trip(tmp_path, ratings):
    assert ratings["Name"].str.contains(",").any()
    path = write_synthetic_credit_csv(tmp_path / "nested" / "ratings.csv", SyntheticParams())
    assert path.exists() and [p.name for p in path.parent.iterdir()] == ["ratings.csv"]
    pd.testing.assert_frame_equal(read_credit_csv(path), ratings)
    assert pd.read_csv(path)["Name"].tolist() == ratings["Name"].tolist()


def test_given_default_params_when_generated_then_it_takes_under_a_second():
    start = time.perf_counter()
    generate_credit_ratings(SyntheticParams(seed=3))
    assert time.perf_counter() - start < 1.0


def test_given_better_bands_when_compared_then_they_are_more_profitable_and_less_indebted(ratings):
    bands = pd.Series(group_ratings(ratings["Rating"]), index=ratings.index)
    medians = ratings.groupby(bands)[["returnOnAssets", "debtRatio", "netProfitMargin"]].median()
    assert medians["returnOnAssets"].is_monotonic_increasing  # code 0 = Junk .. 5 = A+
    assert medians["netProfitMargin"].is_monotonic_increasing
    assert medians["debtRatio"].is_monotonic_decreasing


def _band_correlation(noise: float) -> float:
    frame = generate_credit_ratings(SyntheticParams(noise=noise))
    codes = pd.Series(group_ratings(frame["Rating"]), dtype=float)
    return codes.corr(frame["returnOnAssets"].rank(), method="spearman")


def test_given_more_noise_when_generated_then_the_band_signal_weakens():
    clean, default, noisy = (_band_correlation(n) for n in (0.0, 0.35, 1.0))
    assert clean > default > noisy
    assert abs(noisy) < 0.2


def test_given_default_params_when_a_forest_is_cross_validated_by_company_then_it_learns(ratings):
    features = ratings[list(RATIO_COLUMNS)]
    target = group_ratings(ratings["Rating"])
    model = RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=-1)
    predicted = cross_val_predict(
        model, features, target, groups=ratings["Name"], cv=GroupKFold(n_splits=5)
    )
    macro_f1 = f1_score(target, predicted, average="macro")
    assert 0.35 < macro_f1 < 0.85


def test_given_the_date_format_when_used_then_it_reads_generated_dates(ratings):
    assert all(datetime.strptime(d, DATE_FORMAT) for d in ratings["Date"].head(20))
    assert not re.search(r"(^|/)0\d", " ".join(ratings["Date"]))


def test_given_drift_when_generated_then_ratios_worsen_while_ratings_and_dates_stay():
    from pipelines.credit.synthetic import generate_credit_ratings
    from senim.config import SyntheticParams

    ordinary = generate_credit_ratings(SyntheticParams(seed=5))
    downturn = generate_credit_ratings(SyntheticParams(seed=5, drift=1.0))

    assert (ordinary["Rating"] == downturn["Rating"]).all()
    assert (ordinary["Date"] == downturn["Date"]).all()
    assert downturn["debtRatio"].median() > ordinary["debtRatio"].median()
    assert downturn["netProfitMargin"].median() < ordinary["netProfitMargin"].median()


def test_given_many_seeds_when_generated_then_every_ratio_is_within_the_hard_limits():
    from pipelines.credit.synthetic import generate_credit_ratings
    from pipelines.credit.validate import RATIO_LIMITS
    from senim.config import SyntheticParams

    for seed in range(60):
        frame = generate_credit_ratings(SyntheticParams(seed=seed, drift=(seed % 3) / 2))
        for column, (low, high) in RATIO_LIMITS.items():
            assert frame[column].between(low, high).all(), (seed, column)
