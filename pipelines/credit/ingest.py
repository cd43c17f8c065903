"""Ingest stage: read the configured credit source and write one snapshot in the schema.

The snapshot is what gets versioned, validated and trained on, so every source
(synthetic, CSV, PostgreSQL) is normalised to the same columns and written atomically:
a failed ingest never leaves a half-written snapshot behind.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipelines.credit.schema import ALL_COLUMNS
from senim.atomic_files import write_csv_atomically
from senim.config import DataParams, SyntheticParams
from senim.errors import ConfigError


def load_credit_source(
    data: DataParams, synthetic: SyntheticParams, *, source_dsn: str | None = None
) -> pd.DataFrame:
    """Read whichever source ``data.source`` names into a schema-shaped frame."""
    if data.source == "synthetic":
        from pipelines.credit.synthetic import generate_credit_ratings

        return generate_credit_ratings(synthetic)
    if data.source == "csv":
        from pipelines.credit.sources import read_credit_csv

        return read_credit_csv(Path(data.csv_path))
    from pipelines.credit.sources import read_credit_postgres

    if not source_dsn:
        raise ConfigError(
            "data.source is 'postgres' but SENIM_SOURCE_DSN is not set "
            "(e.g. postgresql://user:password@host:5432/db)"
        )
    return read_credit_postgres(source_dsn, data.postgres_table)


def write_snapshot(frame: pd.DataFrame, path: Path) -> Path:
    """Write the frame as CSV in schema order; readers never see a partial file."""
    return write_csv_atomically(frame.loc[:, list(ALL_COLUMNS)], path)


def ingest(
    data: DataParams, synthetic: SyntheticParams, out_path: Path, *, source_dsn: str | None = None
) -> Path:
    frame = load_credit_source(data, synthetic, source_dsn=source_dsn)
    return write_snapshot(frame, out_path)
