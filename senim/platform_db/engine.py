"""Engines, sessions and schema migration for the platform database (SQLite or PostgreSQL).

One database (``SENIM_DATABASE_URL``) holds identity and access (``auth.models``) and the
platform's own records (``senim.platform_db.tables``); one Alembic chain creates both.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from senim.errors import ConfigError, StoreUnreachableError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Not "alembic_version": MLflow and Optuna keep theirs under that name, and may share the database.
VERSION_TABLE = "senim_alembic_version"
SQLITE_BUSY_TIMEOUT_MS = 10_000
POSTGRES_CONNECT_TIMEOUT_S = 10
# Any fixed 64-bit number; every Senim process migrating one database takes the same lock.
_MIGRATION_LOCK_KEY = 0x53656E696D415554

# Alembic runs env.py through a process-wide context proxy, so one migration at a time.
_migrate_in_process = threading.Lock()


def make_engine(url: str) -> sa.Engine:
    """An engine for a ``sqlite:///`` or ``postgresql://`` URL; connects lazily.

    SQLite gets foreign keys (off by default there), WAL so readers do not block the
    writer, and a busy timeout so concurrent writers wait instead of failing.
    """
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        return sa.create_engine(
            parsed,
            pool_pre_ping=True,
            connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S},
        )
    raise ConfigError(
        f"unsupported platform database (SENIM_DATABASE_URL) {backend!r}: use sqlite:///path or postgresql://host/db"
    )


def session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit, so services can return them."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def migrate(engine_or_url: sa.Engine | str) -> None:
    """Bring the platform schema to the newest revision; a no-op when it is already there.

    Safe when several processes start at once: the whole upgrade runs in one transaction
    that first takes a database-wide lock (a PostgreSQL advisory lock, or SQLite's write
    lock), so the others wait and then find the schema at head.
    """
    # Imported here: alembic (and its template engine) costs a third of a second to import.
    from alembic import command
    from alembic.config import Config

    owned = isinstance(engine_or_url, str)
    engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    try:
        with _migrate_in_process, connect(engine) as connection:
            lock_for_migration(connection)
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()
    finally:
        if owned:
            engine.dispose()


def _where(engine: sa.Engine) -> str:
    """The database's location for messages: host:port or file path, never a password."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def _parse(url: str) -> sa.URL:
    try:
        return sa.make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(
            "invalid SENIM_DATABASE_URL: expected sqlite:///path or postgresql://user@host/db"
        ) from None


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or url.query.get("mode") == "memory"
    if not in_memory and not database.startswith("file:"):
        folder = Path(database).expanduser().parent
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            _private_database_file(Path(database).expanduser())
        except OSError as exc:
            raise StoreUnreachableError(
                f"cannot create the folder {folder} for the SQLite platform database: "
                f"{exc.strerror}"
            ) from None
    options: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if in_memory:
        # One shared connection, or every checkout would see its own empty database.
        options["poolclass"] = sa.pool.StaticPool
    engine = sa.create_engine(url, **options)
    sa.event.listen(engine, "connect", _configure_sqlite_connection)
    return engine


def _private_database_file(path: Path) -> None:
    """Password hashes and the audit log: the file is 0600 from the start, whatever the
    umask (SQLite gives its WAL and shared-memory files the same mode), and a file an
    earlier release left readable by others is closed."""
    path.touch(mode=0o600, exist_ok=True)
    for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            status = part.stat()
        except FileNotFoundError:
            continue
        if status.st_uid == os.getuid() and status.st_mode & 0o077:
            part.chmod(0o600)


def _configure_sqlite_connection(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if cursor.execute("PRAGMA journal_mode").fetchone()[0] not in ("wal", "memory"):
            _switch_to_wal(cursor)
    finally:
        cursor.close()


def _switch_to_wal(cursor: sqlite3.Cursor) -> None:
    """Switch the file to WAL (it stays so), retrying while another process is switching.

    SQLite answers a concurrent switch with SQLITE_BUSY at once instead of waiting out the
    busy timeout.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if not exc.sqlite_errorname.startswith("SQLITE_BUSY") or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def connect(engine: sa.Engine) -> sa.Connection:
    try:
        return engine.connect()
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise _unreachable(engine, exc) from None


def _unreachable(engine: sa.Engine, exc: sa.exc.DBAPIError) -> StoreUnreachableError:
    """The driver's first line, minus its 'connection to server ... failed:' preamble."""
    lines = str(exc.orig or exc).strip().splitlines()
    reason = lines[0] if lines else type(exc.orig or exc).__name__
    reason = re.sub(r"^.*failed:\s*", "", reason)
    reason = re.sub(r"^FATAL:\s*", "", reason).strip() or "connection failed"
    if engine.url.password:
        reason = reason.replace(str(engine.url.password), "***")
    kind = "SQLite" if engine.url.get_backend_name() == "sqlite" else "PostgreSQL"
    return StoreUnreachableError(
        f"cannot reach the platform database ({kind}) at {_where(engine)}: {reason}"
    )


def lock_for_migration(connection: sa.Connection) -> None:
    """Open the migration's transaction holding a lock that serialises migrating processes.

    Alembic sees the open transaction and runs inside it; ``migrate`` commits, which
    also releases the lock.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(
            sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
        )
    elif connection.dialect.name == "sqlite":
        # The Python driver would otherwise run DDL outside any transaction.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
