"""A throwaway PostgreSQL 15 server for tests, so the PostgreSQL paths run against the real thing.

The server lives in a fresh temporary directory, listens only on 127.0.0.1 on a free
port with trust authentication, and is stopped and deleted however the test ends. As
root it runs as the ``postgres`` user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import pytest
import sqlalchemy as sa

PG_BIN = Path("/usr/lib/postgresql/15/bin")
READY_TIMEOUT_S = 30.0


@contextmanager
def running_postgres(durable: bool = False) -> Iterator[str]:
    """Yield ``postgresql://postgres@127.0.0.1:PORT/postgres``; skip if PostgreSQL is absent.

    Tests run it without flushing to disk; ``durable`` keeps PostgreSQL's own defaults
    (fsync, synchronous commit), for benchmarks that must not flatter a write."""
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        pytest.skip(f"PostgreSQL 15 server binaries not found in {PG_BIN}")
    prefix = _run_as_postgres_prefix()
    workdir = Path(tempfile.mkdtemp(prefix="senim-pg-"))
    data = workdir / "data"
    log = workdir / "server.log"
    started = False
    try:
        if prefix:
            account = pwd.getpwnam("postgres")
            os.chown(workdir, account.pw_uid, account.pw_gid)
        _run([*prefix, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres",
              "--auth=trust", "--encoding=UTF8", "--no-sync"], "initdb")  # fmt: skip
        port = free_port()
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {shlex.quote(str(workdir))}"
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        started = True  # from here on, stop it even if start reports a failure
        _run([*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options,
              "-w", "-t", str(int(READY_TIMEOUT_S)), "start"], "pg_ctl start", log)  # fmt: skip
        dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        _wait_until_ready(dsn, log)
        yield dsn
    finally:
        if started:
            subprocess.run(
                [*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "stop", "-m", "immediate"],
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(workdir, ignore_errors=True)


def create_database(dsn: str, name: str) -> str:
    """Create database ``name`` on the server of ``dsn``; return a DSN pointing at it."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"invalid database name {name!r}")
    connection = psycopg2.connect(dsn)
    try:
        connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()
    return sa.engine.make_url(dsn).set(database=name).render_as_string(hide_password=False)


def _run_as_postgres_prefix() -> list[str]:
    """``runuser -u postgres --`` when we are root, nothing otherwise."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no 'postgres' user to run PostgreSQL as")
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root and runuser is not available to drop to 'postgres'")
    return [runuser, "-u", "postgres", "--"]


def _run(command: list[str], what: str, log: Path | None = None) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        server_log = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
        raise RuntimeError(
            f"{what} failed ({result.returncode}): {result.stderr.strip()[-2000:]}\n{server_log}"
        )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_ready(dsn: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            psycopg2.connect(dsn, connect_timeout=2).close()
            return
        except psycopg2.OperationalError as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"PostgreSQL did not accept connections within {READY_TIMEOUT_S:.0f}s: {exc}\n"
                    + (log.read_text(errors="replace")[-2000:] if log.exists() else "")
                ) from None
            time.sleep(0.2)
