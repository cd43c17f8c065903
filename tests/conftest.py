"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.postgres_server import running_postgres


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """One throwaway PostgreSQL 15 server for the whole session; skips if it is not installed."""
    with running_postgres() as dsn:
        yield dsn
