"""The platform database's one Alembic chain: today's databases migrate forward, and the
models of both homes (``auth.models``, ``senim.platform_db.tables``) match what it builds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

import auth.models  # noqa: F401 - registers the auth tables on Base
from senim.platform_db.columns import Base
from senim.platform_db.engine import MIGRATIONS_DIR, VERSION_TABLE, make_engine, migrate
from senim.platform_db.tables import PredictionLogRecord
from tests.postgres_server import create_database

HEAD = "0010"
BEFORE_THE_MOVE = "0004"  # the head when the prediction log was created by the service


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'senim.db'}"
    server = request.getfixturevalue("postgres_dsn")
    return create_database(server, f"platform_{uuid.uuid4().hex[:16]}")


def _upgrade_to(engine: sa.Engine, revision: str) -> None:
    with engine.connect() as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        connection.commit()


def _head(engine: sa.Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.exec_driver_sql(f"SELECT * FROM {VERSION_TABLE}").scalars())


def _differences(engine: sa.Engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        return compare_metadata(context, Base.metadata)


def _prediction_log_as_the_service_made_it() -> sa.Table:
    """The table as the service created it then: no ``role``, no request id index."""
    current = PredictionLogRecord.__table__
    columns = [column.copy() for column in current.columns if column.name != "role"]
    for column in columns:
        column.index = column.name in ("at", "model_version")
    return sa.Table(
        current.name,
        sa.MetaData(naming_convention=current.metadata.naming_convention),
        *columns,
        sa.CheckConstraint("status IN ('ok', 'error')", name="status"),
    )


def _todays_database(engine: sa.Engine) -> None:
    """A database as the platform left it before the move: auth chain at 0004, and the
    prediction log created by the scoring service from its model, with rows in both."""
    _upgrade_to(engine, BEFORE_THE_MOVE)
    old_table = _prediction_log_as_the_service_made_it()
    with engine.begin() as connection:
        old_table.create(connection)
        connection.execute(
            sa.insert(old_table),
            [{"at": datetime.now(UTC), "caller": "key:abc", "endpoint": "/v1/credit/score",
              "model_name": "credit-rating", "model_version": "3", "rows": 1,
              "inputs_sha256": "0" * 64, "outputs": "[]", "latency_ms": 2.5, "status": "ok"}],
        )  # fmt: skip
        connection.execute(
            sa.text(
                "INSERT INTO model_alias_events (at, model, alias, from_version, to_version, "
                "action, actor, reason) VALUES (:at, 'credit-rating', 'champion', NULL, '3', "
                "'approve', 'alice', 'fair')"
            ),
            {"at": datetime.now(UTC).replace(tzinfo=None)},
        )


def test_given_todays_database_when_migrated_then_it_reaches_head_with_every_row_kept(
    database_url,
):
    engine = make_engine(database_url)
    try:
        _todays_database(engine)
        assert _head(engine) == [BEFORE_THE_MOVE]

        migrate(engine)
        migrate(engine)  # idempotent

        assert _head(engine) == [HEAD]
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM prediction_log").scalar() == 1
            events = connection.exec_driver_sql("SELECT count(*) FROM model_alias_events")
            assert events.scalar() == 1
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_given_a_database_that_never_served_when_migrated_then_the_prediction_log_is_created(
    database_url,
):
    engine = make_engine(database_url)
    try:
        _upgrade_to(engine, BEFORE_THE_MOVE)
        assert "prediction_log" not in sa.inspect(engine).get_table_names()

        migrate(engine)

        indexes = {index["name"] for index in sa.inspect(engine).get_indexes("prediction_log")}
        assert indexes == {
            "ix_prediction_log_at",
            "ix_prediction_log_model_version",
            "ix_prediction_log_request_id",
        }
        assert _differences(engine) == []
    finally:
        engine.dispose()
