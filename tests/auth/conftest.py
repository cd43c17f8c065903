"""Auth database fixtures: each test gets a fresh, migrated SQLite file or PostgreSQL database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from auth.db import make_engine, migrate, session_factory
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
