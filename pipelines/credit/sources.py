"""Read credit ratings from a CSV file or a PostgreSQL table into the one schema.

Both sources go through ``_conform``, which maps column names, coerces the ratios and
names the first problems it finds, so a bad file and a bad table fail the same way.
Values the schema allows but the data contract may not (infinities, unknown ratings,
null columns) are left for the validation suite to report.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import sqlalchemy as sa

from pipelines.credit.schema import (
    AGENCY,
    ALL_COLUMNS,
    DATE,
    FEATURE_COLUMNS,
    NAME,
    RATIO_COLUMNS,
    SYMBOL,
)
from senim.errors import ConfigError, DataError, StoreUnreachableError

_MISSING_TOKENS = frozenset({"", "nan", "na", "n/a", "null", "none"})
_OTHER_DELIMITERS = {";": "semicolon ';'", "\t": "tab", "|": "pipe '|'"}
_TABLE_PATTERN = re.compile(r"^(?:([A-Za-z_][A-Za-z0-9_]*)\.)?([A-Za-z_][A-Za-z0-9_]*)$")
_MAX_EXAMPLES = 3


def read_credit_csv(path: str | Path) -> pd.DataFrame:
    """Read a ``corporate_rating.csv``-shaped file; any problem is a DataError naming it."""
    frame, where = _read_csv_records(Path(path))
    return _conform(frame, source=str(path), where=where)


def read_scoring_csv(path: str | Path, defaults) -> pd.DataFrame:
    """Read applications to score into MODEL_COLUMNS: the ratios and Sector are required;
    ``Rating Agency Name`` and ``Date`` are optional (a missing column or an empty cell
    takes ``defaults``, a ``scoring_inputs.ScoringDefaults``); all else is ignored.

    Empty ratio cells are allowed (the model imputes them); infinities are not, since no
    model can score them meaningfully. An unknown agency or a bad date names its rows.
    """
    frame, where = _read_csv_records(Path(path))
    features = _conform(frame, source=str(path), where=where, columns=FEATURE_COLUMNS)
    _add_scoring_context(features, frame, path, where, defaults)
    for column in RATIO_COLUMNS:
        infinite = np.flatnonzero(np.isinf(features[column].to_numpy()))
        if len(infinite):
            raise DataError(
                f"{path}: column {column!r} has infinite values at "
                f"{where(infinite[:_MAX_EXAMPLES])}" + _more(len(infinite))
            )
    return features


def _add_scoring_context(
    features: pd.DataFrame, frame: pd.DataFrame, path, where, defaults
) -> None:
    """Agency and date columns, checked where given and defaulted where not."""
    from pipelines.credit.scoring_inputs import check_agency, check_rating_date

    by_key = {_key(column): column for column in frame.columns}
    for column, check, default in (
        (AGENCY, check_agency, defaults.agency),
        (DATE, check_rating_date, defaults.date),
    ):
        if _key(column) not in by_key:
            features[column] = default
            continue
        values = frame[by_key[_key(column)]].reset_index(drop=True).map(_to_text)
        problems: dict[str, list[int]] = {}
        for row, value in enumerate(values):
            if value is None:
                continue
            try:
                check(value)
            except ValueError as exc:
                problems.setdefault(str(exc), []).append(row)
        if problems:
            message, rows = next(iter(problems.items()))
            raise DataError(
                f"{path}: column {column!r} {message} at {where(rows[:_MAX_EXAMPLES])}"
                + _more(len(rows))
            )
        features[column] = values.where(values.notna(), default).astype(object)


def read_scoring_identifiers(path: str | Path) -> pd.DataFrame:
    """``Name`` and ``Symbol`` of each application in input order, where the file has
    them (either spelling); no columns when it has neither."""
    frame, _ = _read_csv_records(Path(path))
    by_key = {_key(column): column for column in frame.columns}
    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    for column in (NAME, SYMBOL):
        if _key(column) in by_key:
            out[column] = frame[by_key[_key(column)]].reset_index(drop=True).map(_to_text)
    return out


def _read_csv_records(path: Path) -> tuple[pd.DataFrame, Callable[[Sequence[int]], str]]:
    text = _read_text(path)
    rows, lines = _parse_csv(text, path)
    header, records = rows[0], rows[1:]
    if len(header) == 1:
        found = [name for char, name in _OTHER_DELIMITERS.items() if char in header[0]]
        if found:
            raise DataError(
                f"{path}: the header is split by {found[0]}, not by commas; "
                "expected a comma-separated file (save it as CSV with ',' as the delimiter)"
            )
    for record, line in zip(records, lines[1:], strict=True):
        if len(record) != len(header):
            raise DataError(
                f"{path}: line {line} has {len(record)} fields but the header has {len(header)}; "
                "quote values that contain commas"
            )
    if not records:
        raise DataError(f"{path}: has a header but no data rows")
    frame = pd.DataFrame(records, columns=header, dtype=object)

    def where(indices: Sequence[int]) -> str:
        return "data row(s) " + ", ".join(f"{i + 1} (line {lines[i + 1]})" for i in indices)

    return frame, where


def read_credit_postgres(dsn: str, table: str) -> pd.DataFrame:
    """Read every row of ``table`` (``name`` or ``schema.name``), sorted by the schema columns.

    SQL gives no row order of its own; sorting makes two reads of the same table give the
    same snapshot (and the same DVC hash).
    """
    schema, name = _split_table(table)
    source = f"table {table!r}"
    engine = _engine(dsn)
    try:
        with engine.connect() as connection:
            try:
                reflected = sa.Table(name, sa.MetaData(), schema=schema, autoload_with=connection)
            except sa.exc.NoSuchTableError:
                raise DataError(
                    f"table {table!r} not found in PostgreSQL database "
                    f"{engine.url.database!r} at {_where(engine)}"
                ) from None
            columns = _map_columns(
                [column.name for column in reflected.columns], source, ALL_COLUMNS
            )
            query = sa.select(reflected).order_by(*(reflected.c[columns[c]] for c in ALL_COLUMNS))
            frame = pd.read_sql(query, connection, coerce_float=True)
    except sa.exc.OperationalError as exc:
        raise _unreachable(engine, exc) from None
    except sa.exc.DBAPIError as exc:  # e.g. permission denied on the table
        raise DataError(f"cannot read {source}: {_first_line(exc)}") from None
    finally:
        engine.dispose()

    def where(indices: Sequence[int]) -> str:
        names, dates = frame[columns[NAME]], frame[columns[DATE]]
        return "row(s) " + ", ".join(
            f"{i + 1} (Name {names.iloc[i]!r}, Date {_to_text(dates.iloc[i])})" for i in indices
        )

    return _conform(frame, source=source, where=where)


def write_credit_postgres(
    df: pd.DataFrame,
    dsn: str,
    table: str,
    if_exists: Literal["replace", "append", "fail"] = "replace",
) -> int:
    """Write ``df`` as-is (its own column names) into ``table``; returns the rows written."""
    schema, name = _split_table(table)
    engine = _engine(dsn)
    types = {
        column: sa.Double() if pd.api.types.is_float_dtype(df[column]) else sa.Text()
        for column in df.columns
        if pd.api.types.is_float_dtype(df[column]) or pd.api.types.is_object_dtype(df[column])
    }
    try:
        df.to_sql(name, engine, schema=schema, if_exists=if_exists, index=False, dtype=types)
    except sa.exc.OperationalError as exc:
        raise _unreachable(engine, exc) from None
    except sa.exc.DBAPIError as exc:
        raise DataError(f"cannot write table {table!r}: {_first_line(exc)}") from None
    except ValueError as exc:  # if_exists="fail" and the table is there
        raise DataError(f"cannot write table {table!r}: {exc}") from None
    finally:
        engine.dispose()
    return len(df)


def _conform(
    frame: pd.DataFrame,
    source: str,
    where: Callable[[Sequence[int]], str],
    columns: Sequence[str] = ALL_COLUMNS,
) -> pd.DataFrame:
    """``columns`` in order: ratios float64 (empty cells NaN), the rest str or None."""
    mapping = _map_columns(list(frame.columns), source, columns)
    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    for schema_column in columns:
        values = frame[mapping[schema_column]].reset_index(drop=True)
        if schema_column in RATIO_COLUMNS:
            out[schema_column] = _to_float(values, schema_column, source, where)
        else:
            out[schema_column] = values.map(_to_text).astype(object)
    empty_names = np.flatnonzero(out[NAME].isna().to_numpy()) if NAME in out else []
    if len(empty_names):
        raise DataError(
            f"{source}: column {NAME!r} is empty at {where(empty_names[:_MAX_EXAMPLES])}"
            + _more(len(empty_names))
        )
    return out


def _key(column: str) -> str:
    """'Rating Agency Name', 'rating_agency_name' and 'currentratio' all match their schema name."""
    return re.sub(r"[^a-z0-9]", "", str(column).lower())


def _map_columns(found: list[str], source: str, required: Sequence[str]) -> dict[str, str]:
    repeated = sorted({c for c in found if found.count(c) > 1})
    if repeated:
        raise DataError(
            f"{source}: column(s) {', '.join(map(repr, repeated))} appear more than once"
        )
    by_key: dict[str, list[str]] = {}
    for column in found:
        by_key.setdefault(_key(column), []).append(column)
    mapping: dict[str, str] = {}
    missing: list[str] = []
    for schema_column in required:
        if schema_column in found:
            mapping[schema_column] = schema_column
            continue
        candidates = by_key.get(_key(schema_column), [])
        if len(candidates) > 1:
            raise DataError(
                f"{source}: columns {', '.join(map(repr, candidates))} all match "
                f"{schema_column!r}; keep one"
            )
        if candidates:
            mapping[schema_column] = candidates[0]
        else:
            missing.append(schema_column)
    if missing:
        raise DataError(
            f"{source}: missing required column(s) {', '.join(map(repr, missing))} "
            f"({len(missing)} of {len(required)})"
        )
    return mapping


def _to_float(
    values: pd.Series, column: str, source: str, where: Callable[[Sequence[int]], str]
) -> pd.Series:
    """Numbers, numeric strings and 'inf' pass; anything else is named with its rows."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype(np.float64)
    text = values.map(_to_text)
    blank = text.isna() | text.str.lower().isin(_MISSING_TOKENS)
    numbers = pd.to_numeric(text.where(~blank), errors="coerce").astype(np.float64)
    bad = np.flatnonzero((numbers.isna() & ~blank).to_numpy())
    if len(bad):
        examples = ", ".join(repr(text.iloc[i]) for i in bad[:_MAX_EXAMPLES])
        raise DataError(
            f"{source}: column {column!r} must be numeric but has {examples} at "
            f"{where(bad[:_MAX_EXAMPLES])}" + _more(len(bad))
        )
    return numbers


def _to_text(value: object) -> str | None:
    """Strings stay as written; dates from a typed table are written M/D/YYYY like the CSV."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, dt.datetime | dt.date):
        return f"{value.month}/{value.day}/{value.year}"
    text = str(value).strip()
    return text or None


def _more(count: int) -> str:
    return f" and {count - _MAX_EXAMPLES} more row(s)" if count > _MAX_EXAMPLES else ""


def _read_text(path: Path) -> str:
    if not path.exists():
        raise DataError(f"credit data file not found: {path}")
    if not path.is_file():
        raise DataError(f"credit data path is not a regular file: {path}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read credit data file {path}: {exc.strerror}") from None
    if b"\x00" in raw[:65536]:
        raise DataError(f"{path}: looks like a binary file (NUL bytes); expected a UTF-8 CSV")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"{path}: not UTF-8 (byte 0x{raw[exc.start]:02x} on line {line}); "
            "save the file as UTF-8 CSV"
        ) from None
    if not text.strip():
        raise DataError(f"{path}: the file is empty; expected a header and data rows")
    return text


def _parse_csv(text: str, path: Path) -> tuple[list[list[str]], list[int]]:
    """Rows without blank lines, and the file line each row starts on (quoted names may wrap)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    start = 1
    try:
        for row in reader:
            if row and not (len(row) == 1 and not row[0].strip()):  # skip blank lines
                rows.append(row)
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"{path}: not valid CSV at line {reader.line_num}: {exc}") from None
    if not rows:
        raise DataError(f"{path}: the file is empty; expected a header and data rows")
    return rows, lines


def _split_table(table: str) -> tuple[str | None, str]:
    match = _TABLE_PATTERN.match(table or "")
    if not match:
        raise ConfigError(
            f"invalid PostgreSQL table name {table!r}: use letters, digits and '_', "
            "optionally prefixed by a schema ('schema.table')"
        )
    return match.group(1), match.group(2)


def _engine(dsn: str) -> sa.Engine:
    """An engine for ``postgresql://`` or ``postgresql+psycopg2://`` DSNs only."""
    try:
        url = sa.engine.make_url(dsn)
    except sa.exc.ArgumentError:
        raise ConfigError(
            "invalid PostgreSQL DSN: expected postgresql://user:password@host:port/database"
        ) from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg2")
    if url.drivername != "postgresql+psycopg2":
        raise ConfigError(
            f"unsupported database driver {url.drivername!r}: use a postgresql:// DSN"
        )
    return sa.create_engine(url, connect_args={"connect_timeout": 10})


def _where(engine: sa.Engine) -> str:
    return f"{engine.url.host or 'localhost'}:{engine.url.port or 5432}"


def _first_line(exc: sa.exc.DBAPIError) -> str:
    lines = str(exc.orig or exc).strip().splitlines()
    return lines[0] if lines else type(exc.orig or exc).__name__


def _unreachable(engine: sa.Engine, exc: sa.exc.DBAPIError) -> StoreUnreachableError:
    """The driver's first line, minus its 'connection to server ... failed:' preamble."""
    reason = re.sub(r"^.*?failed:\s*", "", _first_line(exc))
    reason = re.sub(r"^FATAL:\s*", "", reason).strip() or "connection failed"
    return StoreUnreachableError(f"cannot reach PostgreSQL at {_where(engine)}: {reason}")
