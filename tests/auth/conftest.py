"""Auth fixtures: each test gets a fresh, migrated SQLite file or PostgreSQL database, and
(``auth``, ``make_auth``) the auth HTTP API on it with a frozen clock."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from senim.platform_db.engine import make_engine, migrate, session_factory
from tests.auth.http_harness import AuthHarness
from tests.postgres_server import create_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """An empty database; the PostgreSQL one lives on the session's throwaway server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'auth' / 'senim.db'}"
    server = request.getfixturevalue("postgres_dsn")
    return create_database(server, f"auth_{uuid.uuid4().hex[:16]}")


@pytest.fixture()
def migrated_engine(database_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture()
def sessions(migrated_engine: sa.Engine) -> sessionmaker[Session]:
    return session_factory(migrated_engine)


@pytest.fixture()
def make_auth(database_url: str, tmp_path) -> Iterator[Callable[..., AuthHarness]]:
    """Build the auth API on this test's database; keyword arguments override ``auth`` params
    (e.g. ``lockout_threshold=3`` or ``risk={"high_at": 50}``). Closed at teardown."""
    built: list[AuthHarness] = []

    def make(**param_overrides: Any) -> AuthHarness:
        harness = AuthHarness(database_url, tmp_path / f"home{len(built)}", **param_overrides)
        built.append(harness)
        return harness

    yield make
    for harness in built:
        harness.close()


@pytest.fixture()
def auth(make_auth: Callable[..., AuthHarness]) -> AuthHarness:
    """The auth API with default params (cheap hashing), a frozen clock and a client."""
    return make_auth()
