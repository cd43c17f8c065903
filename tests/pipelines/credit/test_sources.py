"""Reading credit data from CSV and PostgreSQL: one schema out, one clear error per problem."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from pipelines.credit.schema import ALL_COLUMNS, RATIO_COLUMNS
from pipelines.credit.scoring_inputs import ScoringDefaults
from pipelines.credit.sources import read_credit_csv, read_credit_postgres, write_credit_postgres
from pipelines.credit.synthetic import generate_credit_ratings
from senim.config import SyntheticParams
from senim.errors import ConfigError, DataError, StoreUnreachableError
from tests.postgres_server import create_database, free_port


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    return generate_credit_ratings(SyntheticParams(seed=5, n_companies=20))


def _write(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def _snake(column: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", column).replace(" ", "_").lower()


# --- CSV: good input -------------------------------------------------------------------------


def test_given_a_good_csv_when_read_then_it_round_trips_exactly(tmp_path, ratings):
    frame = read_credit_csv(_write(tmp_path / "ratings.csv", ratings))
    pd.testing.assert_frame_equal(frame, ratings)
    assert all(frame[c].dtype == np.float64 for c in RATIO_COLUMNS)


def test_given_extra_and_reordered_columns_when_read_then_schema_columns_come_back_in_order(
    tmp_path, ratings
):
    shuffled = ratings.assign(comment="x", internal_id=1)[
        ["comment", *reversed(ALL_COLUMNS), "internal_id"]
    ]
    frame = read_credit_csv(_write(tmp_path / "ratings.csv", shuffled))
    assert list(frame.columns) == list(ALL_COLUMNS)
    pd.testing.assert_frame_equal(frame, ratings)


def test_given_snake_case_headers_when_read_then_they_map_to_schema_names(tmp_path, ratings):
    renamed = ratings.rename(columns=_snake)
    assert "rating_agency_name" in renamed.columns and "current_ratio" in renamed.columns
    pd.testing.assert_frame_equal(read_credit_csv(_write(tmp_path / "r.csv", renamed)), ratings)


def test_given_empty_ratio_cells_when_read_then_they_become_nan(tmp_path, ratings):
    frame = ratings.astype({"cashRatio": object})
    frame.loc[[0, 3], "cashRatio"] = ""
    result = read_credit_csv(_write(tmp_path / "ratings.csv", frame))
    assert result["cashRatio"].isna().sum() == 2
    assert result["cashRatio"].dtype == np.float64


def test_given_infinity_strings_when_read_then_they_become_float_infinities(tmp_path, ratings):
    frame = ratings.astype({"debtEquityRatio": object})
    frame.loc[0, "debtEquityRatio"] = "inf"
    frame.loc[1, "debtEquityRatio"] = "-inf"
    result = read_credit_csv(_write(tmp_path / "ratings.csv", frame))
    assert result.loc[0, "debtEquityRatio"] == np.inf
    assert result.loc[1, "debtEquityRatio"] == -np.inf


def test_given_unknown_rating_and_null_column_when_read_then_left_for_validation(tmp_path, ratings):
    frame = ratings.assign(Rating="ZZZ", cashRatio="")
    result = read_credit_csv(_write(tmp_path / "ratings.csv", frame))
    assert (result["Rating"] == "ZZZ").all()
    assert result["cashRatio"].isna().all()


def test_given_a_utf8_bom_when_read_then_the_first_column_is_still_rating(tmp_path, ratings):
    path = tmp_path / "ratings.csv"
    path.write_bytes(b"\xef\xbb\xbf" + ratings.to_csv(index=False).encode())
    assert read_credit_csv(path).columns[0] == "Rating"


def test_given_a_quoted_name_spanning_lines_when_a_later_value_is_bad_then_line_is_right(
    tmp_path, ratings
):
    frame = ratings.head(3).astype({"quickRatio": object})
    frame.loc[0, "Name"] = "Two\nLine, Inc."
    frame.loc[2, "quickRatio"] = "oops"
    with pytest.raises(DataError, match=r"data row\(s\) 3 \(line 5\)"):
        read_credit_csv(_write(tmp_path / "ratings.csv", frame))


# --- CSV: bad input --------------------------------------------------------------------------


def test_given_a_missing_file_when_read_then_error_says_not_found(tmp_path):
    path = tmp_path / "absent.csv"
    with pytest.raises(DataError, match=f"credit data file not found: {re.escape(str(path))}"):
        read_credit_csv(path)


def test_given_a_directory_when_read_then_error_says_not_a_file(tmp_path):
    with pytest.raises(DataError, match="not a regular file"):
        read_credit_csv(tmp_path)


def test_given_a_binary_file_when_read_then_error_says_binary(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(b"\x80\x04\x95\x00\x00\x00binary")
    with pytest.raises(DataError, match="binary"):
        read_credit_csv(path)


def test_given_latin1_text_when_read_then_error_says_not_utf8(tmp_path, ratings):
    path = tmp_path / "ratings.csv"
    frame = ratings.head(2).assign(Name=["Café Holdings Inc.", "Crème Foods Co."])
    path.write_bytes(frame.to_csv(index=False).encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_credit_csv(path)


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_given_an_empty_file_when_read_then_error_says_empty(tmp_path, content):
    path = tmp_path / "ratings.csv"
    path.write_text(content)
    with pytest.raises(DataError, match="empty"):
        read_credit_csv(path)


def test_given_only_a_header_when_read_then_error_says_no_data_rows(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text(",".join(ALL_COLUMNS) + "\n")
    with pytest.raises(DataError, match="no data rows"):
        read_credit_csv(path)


@pytest.mark.parametrize(("separator", "named"), [(";", "semicolon"), ("\t", "tab"), ("|", "pipe")])
def test_given_semicolon_tab_or_pipe_csv_when_read_then_error_names_delimiter(
    tmp_path, ratings, separator, named
):
    path = tmp_path / "ratings.csv"
    ratings.head(5).to_csv(path, index=False, sep=separator)
    with pytest.raises(DataError, match=rf"{named}.*comma") as error:
        read_credit_csv(path)
    assert str(path) in str(error.value)


def test_given_missing_columns_when_read_then_error_lists_all_of_them(tmp_path, ratings):
    path = _write(tmp_path / "ratings.csv", ratings.drop(columns=["Sector", "debtRatio", "Date"]))
    with pytest.raises(DataError, match="missing required column") as error:
        read_credit_csv(path)
    for column in ("'Sector'", "'debtRatio'", "'Date'"):
        assert column in str(error.value)
    assert "'Rating'" not in str(error.value)


def test_given_text_in_a_ratio_column_when_read_then_error_names_column_rows_and_values(
    tmp_path, ratings
):
    frame = ratings.astype({"currentRatio": object})
    frame.loc[2, "currentRatio"] = "abc"
    frame.loc[6, "currentRatio"] = "1,5"
    with pytest.raises(DataError) as error:
        read_credit_csv(_write(tmp_path / "ratings.csv", frame))
    message = str(error.value)
    assert "'currentRatio'" in message
    assert "'abc'" in message and "'1,5'" in message
    assert "3 (line 4)" in message and "7 (line 8)" in message


def test_given_an_empty_name_when_read_then_error_names_the_row(tmp_path, ratings):
    frame = ratings.copy()
    frame.loc[4, "Name"] = "  "
    with pytest.raises(DataError, match=r"'Name' is empty at data row\(s\) 5 \(line 6\)"):
        read_credit_csv(_write(tmp_path / "ratings.csv", frame))


def test_given_a_row_with_an_unquoted_comma_when_read_then_error_names_the_line(tmp_path):
    path = tmp_path / "ratings.csv"
    values = ["BBB", "Acme, Inc.", "ACM", "Fitch Ratings", "1/2/2010", "Energy"] + ["1"] * 25
    path.write_text(",".join(ALL_COLUMNS) + "\n" + ",".join(values) + "\n")
    with pytest.raises(DataError, match="line 2 has 32 fields but the header has 31"):
        read_credit_csv(path)


def test_given_a_column_twice_when_read_then_error_names_it(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text(",".join([*ALL_COLUMNS, "Sector"]) + "\n" + ",".join(["1"] * 32) + "\n")
    with pytest.raises(DataError, match="'Sector' appear more than once"):
        read_credit_csv(path)


# --- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def credit_db(postgres_dsn: str) -> Iterator[str]:
    yield create_database(postgres_dsn, "credit_sources_tests")


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["Name", "Date"]).reset_index(drop=True)


@pytest.mark.postgres
def test_given_a_seeded_table_when_read_then_it_matches_the_frame(credit_db, ratings):
    assert write_credit_postgres(ratings, credit_db, "credit_ratings") == len(ratings)
    frame = read_credit_postgres(credit_db, "credit_ratings")
    assert list(frame.columns) == list(ALL_COLUMNS)
    pd.testing.assert_frame_equal(_sorted(frame), _sorted(ratings))


@pytest.mark.postgres
def test_given_the_same_table_when_read_twice_then_row_order_is_identical(credit_db, ratings):
    write_credit_postgres(ratings, credit_db, "credit_twice")
    first = read_credit_postgres(credit_db, "credit_twice")
    pd.testing.assert_frame_equal(first, read_credit_postgres(credit_db, "credit_twice"))


@pytest.mark.postgres
def test_given_snake_case_columns_when_read_then_they_map_to_schema_names(credit_db, ratings):
    renamed = ratings.rename(columns=_snake)
    renamed = renamed.rename(columns={"quick_ratio": "quickratio"})
    write_credit_postgres(renamed, credit_db, "credit_snake")
    frame = read_credit_postgres(f"{credit_db}", "credit_snake")
    pd.testing.assert_frame_equal(_sorted(frame), _sorted(ratings))


@pytest.mark.postgres
def test_given_a_psycopg2_dsn_and_schema_prefix_when_read_then_it_works(credit_db, ratings):
    engine = sa.create_engine(credit_db.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE SCHEMA IF NOT EXISTS analytics"))
    engine.dispose()
    dsn = credit_db.replace("postgresql://", "postgresql+psycopg2://")
    write_credit_postgres(ratings, dsn, "analytics.credit")
    pd.testing.assert_frame_equal(
        _sorted(read_credit_postgres(dsn, "analytics.credit")), _sorted(ratings)
    )


@pytest.mark.postgres
def test_given_a_timestamp_date_column_when_read_then_dates_are_m_d_yyyy(credit_db, ratings):
    typed = ratings.assign(Date=pd.to_datetime(ratings["Date"], format="%m/%d/%Y"))
    write_credit_postgres(typed, credit_db, "credit_typed_dates")
    frame = read_credit_postgres(credit_db, "credit_typed_dates")
    assert sorted(frame["Date"]) == sorted(ratings["Date"])


@pytest.mark.postgres
def test_given_a_missing_table_when_read_then_error_names_the_table(credit_db):
    with pytest.raises(DataError, match="table 'no_such_table' not found"):
        read_credit_postgres(credit_db, "no_such_table")


@pytest.mark.postgres
def test_given_a_table_missing_columns_when_read_then_error_lists_them(credit_db, ratings):
    write_credit_postgres(ratings.drop(columns=["Sector", "cashRatio"]), credit_db, "credit_thin")
    with pytest.raises(DataError, match="missing required column.*'Sector'.*'cashRatio'"):
        read_credit_postgres(credit_db, "credit_thin")


@pytest.mark.postgres
def test_given_text_in_a_ratio_column_when_read_then_error_names_column_and_company(
    credit_db, ratings
):
    frame = ratings.astype({"payablesTurnover": object})
    frame.loc[0, "payablesTurnover"] = "n.a."
    write_credit_postgres(frame, credit_db, "credit_text_ratio")
    with pytest.raises(DataError) as error:
        read_credit_postgres(credit_db, "credit_text_ratio")
    message = str(error.value)
    assert "'payablesTurnover'" in message and "'n.a.'" in message
    assert repr(ratings.loc[0, "Name"]) in message


def test_given_nothing_listening_when_read_then_store_unreachable_without_password():
    port = free_port()
    dsn = f"postgresql://senim:s3cret-pw@127.0.0.1:{port}/credit"
    with pytest.raises(StoreUnreachableError, match=f"127.0.0.1:{port}") as error:
        read_credit_postgres(dsn, "credit_ratings")
    assert "s3cret-pw" not in str(error.value)
    assert "refused" in str(error.value).lower()


@pytest.mark.postgres
def test_given_an_unknown_role_when_read_then_store_unreachable_names_the_reason(credit_db):
    dsn = credit_db.replace("postgres@", "intruder:pw@")
    with pytest.raises(StoreUnreachableError, match='role "intruder" does not exist'):
        read_credit_postgres(dsn, "credit_ratings")


@pytest.mark.parametrize("table", ["credit; DROP TABLE x", "a.b.c", "1table", ""])
def test_given_an_unsafe_table_name_when_read_then_config_error(table):
    with pytest.raises(ConfigError, match="invalid PostgreSQL table name"):
        read_credit_postgres("postgresql://u@127.0.0.1:1/db", table)


def test_given_a_non_postgres_dsn_when_read_then_config_error():
    with pytest.raises(ConfigError, match="postgresql://"):
        read_credit_postgres("sqlite:///credit.db", "credit_ratings")


SCORING_DEFAULTS = ScoringDefaults(agency="Fitch Ratings", day=dt.date(2024, 2, 29))


def test_given_scoring_csv_without_rating_when_read_then_model_columns_only(tmp_path, ratings):
    from pipelines.credit.schema import MODEL_COLUMNS
    from pipelines.credit.sources import read_scoring_csv

    frame = ratings.copy().drop(columns=["Rating"])
    frame["note"] = "ignored"
    path = tmp_path / "apps.csv"
    frame.to_csv(path, index=False)
    features = read_scoring_csv(path, SCORING_DEFAULTS)
    assert list(features.columns) == list(MODEL_COLUMNS)
    assert len(features) == len(frame)
    assert features["Rating Agency Name"].tolist() == frame["Rating Agency Name"].tolist()


def test_given_scoring_csv_without_agency_or_date_then_defaults_fill_them(tmp_path, ratings):
    from pipelines.credit.sources import read_scoring_csv

    frame = ratings.copy().drop(columns=["Rating", "Date"]).head(4)
    frame["Rating Agency Name"] = ["", "Egan-Jones Ratings Company", "", "DBRS"]
    path = tmp_path / "apps.csv"
    frame.to_csv(path, index=False)
    features = read_scoring_csv(path, SCORING_DEFAULTS)
    assert features["Rating Agency Name"].tolist() == [
        "Fitch Ratings", "Egan-Jones Ratings Company", "Fitch Ratings", "DBRS",
    ]  # fmt: skip
    assert set(features["Date"]) == {"2/29/2024"}


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("Rating Agency Name", "Acme Ratings", "must be one of"),
        ("Date", "2015-11-27", "M/D/YYYY"),
        ("Date", "1/1/2999", "must not be in the future"),
    ],
)
def test_given_a_bad_agency_or_date_when_scoring_csv_read_then_error_names_column_and_row(
    tmp_path, ratings, column, value, message
):
    from pipelines.credit.sources import read_scoring_csv

    frame = ratings.copy()
    frame[column] = frame[column].astype(object)
    frame.loc[1, column] = value
    path = tmp_path / "apps.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=f"column .{column}. .*{message}.* at data row\\(s\\) 2 "):
        read_scoring_csv(path, SCORING_DEFAULTS)


def test_given_scoring_csv_without_sector_when_read_then_error_names_column(tmp_path, ratings):
    from pipelines.credit.sources import read_scoring_csv

    path = tmp_path / "apps.csv"
    ratings.copy().drop(columns=["Sector"]).to_csv(path, index=False)
    with pytest.raises(DataError, match="missing required column\\(s\\) 'Sector'"):
        read_scoring_csv(path, SCORING_DEFAULTS)


def test_given_infinite_ratio_when_scoring_csv_read_then_error_names_row(tmp_path, ratings):
    from pipelines.credit.sources import read_scoring_csv

    frame = ratings.copy()
    frame.loc[2, "debtRatio"] = float("inf")
    path = tmp_path / "apps.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match="'debtRatio' has infinite values at data row\\(s\\) 3"):
        read_scoring_csv(path, SCORING_DEFAULTS)
