"""The prediction log table, and how the scoring service creates it.

It shares the auth database but not the auth Alembic chain: that chain and its
model-versus-migration test belong to auth, so this table has its own ``MetaData`` and
is created, idempotently, by ``ensure_schema`` when the service starts. Column types and
the naming convention are auth's, so both read alike on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from auth.db import connect, lock_for_migration
from auth.models import NAMING_CONVENTION, BigIntId, UTCDateTime, utc_now

PREDICTION_STATUSES = ("ok", "error")


class ServingBase(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class PredictionLogRecord(ServingBase):
    """One scoring request: who asked, which model answered, how fast, and a summary.

    ``inputs`` and ``outputs`` hold JSON in canonical form (sorted keys, no spaces), so
    ``inputs`` hashes to ``inputs_sha256`` byte for byte; ``inputs`` is NULL unless the
    service is configured to store them.
    """

    __tablename__ = "prediction_log"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in PREDICTION_STATUSES) + ")", name="status"
        ),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    request_id: Mapped[str | None] = mapped_column(sa.Text)
    caller: Mapped[str] = mapped_column(sa.Text)  # user id or "key:<prefix>", as in the audit log
    endpoint: Mapped[str] = mapped_column(sa.Text)
    model_name: Mapped[str] = mapped_column(sa.Text)
    model_version: Mapped[str] = mapped_column(sa.Text, index=True)
    data_version: Mapped[str | None] = mapped_column(sa.Text)
    rows: Mapped[int]
    inputs_sha256: Mapped[str] = mapped_column(sa.String(64))
    inputs: Mapped[str | None] = mapped_column(sa.Text)
    outputs: Mapped[str] = mapped_column(sa.Text)
    latency_ms: Mapped[float] = mapped_column(sa.Float)
    status: Mapped[str] = mapped_column(sa.String(8))
    error: Mapped[str | None] = mapped_column(sa.Text)


def ensure_schema(engine: sa.Engine) -> None:
    """Create the prediction log table and its indexes if missing; a no-op otherwise.

    Runs under the lock ``auth.db.migrate`` takes, so service processes starting at once
    (or at once with an auth migration) do not race to create the same table.
    """
    with connect(engine) as connection:
        lock_for_migration(connection)
        ServingBase.metadata.create_all(connection, checkfirst=True)
        connection.commit()
