import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

import senim.platform_db.tables  # noqa: F401 - registers the platform tables on Base
from auth.models import ApiKey, AuditRecord, Role, User, UserRole
from senim.errors import StoreUnreachableError
from senim.platform_db.columns import Base
from senim.platform_db.engine import MIGRATIONS_DIR, VERSION_TABLE, make_engine, migrate
from tests.postgres_server import free_port

HEAD_REVISION = "0010"  # the newest migration in senim/platform_db/migrations/versions

REPO_ROOT = Path(__file__).resolve().parents[2]
SEEDED_ROLES = {"admin", "ml_engineer", "reviewer", "credit_officer", "service", "edge_device"}
AUDIT_ROW = (
    "INSERT INTO audit_log (at, actor, action, resource, outcome, details) "
    "VALUES (CURRENT_TIMESTAMP, 'anonymous', 'login', 'session', 'failure', '{}')"
)


def _head(engine: sa.Engine) -> list[str]:
    with engine.connect() as connection:
        return [row[0] for row in connection.exec_driver_sql(f"SELECT * FROM {VERSION_TABLE}")]


def _role_names(engine: sa.Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.scalars(sa.select(Role.name)))


def test_given_a_migrated_database_when_migrated_again_then_nothing_changes(database_url):
    migrate(database_url)
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        assert _head(engine) == [HEAD_REVISION]
        assert sorted(_role_names(engine)) == sorted(SEEDED_ROLES)
    finally:
        engine.dispose()


def test_given_two_processes_when_they_migrate_at_once_then_both_succeed(database_url):
    start_at = time.time() + 1.5  # after both have imported, so they really race
    script = (
        "import sys, time; from senim.platform_db.engine import migrate; "
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time())); migrate(sys.argv[1])"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, database_url, str(start_at)],
            cwd=REPO_ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    errors = [process.communicate(timeout=60)[1] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], errors
    engine = make_engine(database_url)
    try:
        assert _head(engine) == [HEAD_REVISION]
        assert sorted(_role_names(engine)) == sorted(SEEDED_ROLES)
    finally:
        engine.dispose()


def test_given_a_migrated_database_when_compared_with_the_models_then_they_match(
    migrated_engine,
):
    with migrated_engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_given_a_migrated_database_when_downgraded_and_upgraded_then_schema_returns(
    migrated_engine,
):
    with migrated_engine.connect() as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
        assert "users" not in sa.inspect(connection).get_table_names()
        command.upgrade(config, "head")
        connection.commit()
    assert sorted(_role_names(migrated_engine)) == sorted(SEEDED_ROLES)


def test_given_a_migrated_database_when_roles_are_read_then_all_six_are_seeded(
    migrated_engine,
):
    assert set(_role_names(migrated_engine)) == SEEDED_ROLES


@pytest.mark.parametrize("second", ["alice", "ALICE", "\uff21lice"])  # last: fullwidth A
def test_given_alice_when_a_name_differing_in_case_or_width_registers_then_it_is_refused(
    sessions, second
):
    with sessions.begin() as session:
        session.add(User(username="Alice"))
    with pytest.raises(sa.exc.IntegrityError), sessions.begin() as session:
        session.add(User(username=second))


def test_given_a_user_when_granted_a_missing_role_then_the_foreign_key_refuses(sessions):
    with sessions.begin() as session:
        user = User(username="bob")
        session.add(user)
    with pytest.raises(sa.exc.IntegrityError), sessions.begin() as session:
        session.add(UserRole(user_id=user.id, role_name="superuser"))


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET outcome = 'success'",
                                       "DELETE FROM audit_log"])  # fmt: skip
def test_given_an_audit_row_when_raw_sql_changes_it_then_the_database_refuses(
    migrated_engine, statement
):
    with migrated_engine.begin() as connection:
        connection.exec_driver_sql(AUDIT_ROW)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with migrated_engine.begin() as connection:
            connection.exec_driver_sql(statement)
    with migrated_engine.connect() as connection:
        rows = connection.execute(sa.select(AuditRecord.outcome)).scalars().all()
    assert rows == ["failure"]


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite has no TRUNCATE
def test_given_postgres_when_the_audit_log_is_truncated_then_the_database_refuses(
    migrated_engine,
):
    with migrated_engine.begin() as connection:
        connection.exec_driver_sql(AUDIT_ROW)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with migrated_engine.begin() as connection:
            connection.exec_driver_sql("TRUNCATE audit_log")


ALIAS_EVENT_ROW = (
    "INSERT INTO model_alias_events (at, model, alias, from_version, to_version, action, actor,"
    " reason) VALUES (CURRENT_TIMESTAMP, 'credit-rating', 'champion', NULL, '3', 'approve',"
    " 'user:alice', 'fine')"
)


@pytest.mark.parametrize("statement", ["UPDATE model_alias_events SET actor = 'mallory'",
                                       "DELETE FROM model_alias_events"])  # fmt: skip
def test_given_an_alias_move_when_raw_sql_changes_it_then_the_database_refuses(
    migrated_engine, statement
):
    with migrated_engine.begin() as connection:
        connection.exec_driver_sql(ALIAS_EVENT_ROW)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with migrated_engine.begin() as connection:
            connection.exec_driver_sql(statement)
    with migrated_engine.connect() as connection:
        actors = connection.exec_driver_sql("SELECT actor FROM model_alias_events").scalars()
        assert list(actors) == ["user:alice"]


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite has no TRUNCATE
def test_given_postgres_when_alias_history_is_truncated_then_the_database_refuses(
    migrated_engine,
):
    with migrated_engine.begin() as connection:
        connection.exec_driver_sql(ALIAS_EVENT_ROW)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with migrated_engine.begin() as connection:
            connection.exec_driver_sql("TRUNCATE model_alias_events")


def test_given_an_aware_time_in_another_zone_when_stored_then_read_back_as_utc(sessions):
    almaty = timezone(timedelta(hours=5))
    created = datetime(2025, 3, 1, 9, 30, 15, 123456, tzinfo=almaty)
    with sessions.begin() as session:
        user = User(username="carol", created_at=created)
        session.add(user)
    with sessions() as session:
        if session.bind.dialect.name == "postgresql":
            session.execute(sa.text("SET LOCAL TIME ZONE 'America/New_York'"))
        stored = session.get(User, user.id).created_at
    assert stored == created
    assert stored.tzinfo is UTC
    assert stored.hour == 4


def test_given_a_naive_time_when_stored_then_it_is_refused(sessions):
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        with sessions.begin() as session:
            session.add(User(username="dave", created_at=datetime(2025, 1, 1)))


def test_given_api_key_scopes_when_stored_then_the_list_round_trips(sessions):
    with sessions.begin() as session:
        key = ApiKey(name="camera", prefix="sk_abc", key_hash="h", role_name="edge_device",
                     scopes=["predict:emotion", "models:read"])  # fmt: skip
        session.add(key)
    with sessions() as session:
        assert session.get(ApiKey, key.id).scopes == ["predict:emotion", "models:read"]


def test_given_a_sqlite_url_when_connected_then_wal_and_foreign_keys_are_on(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'folder' / 'senim.db'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
    finally:
        engine.dispose()


def test_given_nothing_listening_when_migrating_postgres_then_unreachable_without_password():
    port = free_port()
    url = f"postgresql://senim:s3cret-pw@127.0.0.1:{port}/auth"
    with pytest.raises(StoreUnreachableError, match=f"127.0.0.1:{port}") as error:
        migrate(url)
    assert "s3cret-pw" not in str(error.value)
