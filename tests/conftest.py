"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.postgres_server import running_postgres


@pytest.fixture(scope="session")
def _trained_store_session(tmp_path_factory) -> dict:
    """One retraining on the embedded SQLite store, shared by the integration tests."""
    from flows.retrain_credit import retrain_credit
    from tests.integration_workspace import make_workspace

    root = tmp_path_factory.mktemp("trained-store")
    with pytest.MonkeyPatch.context() as mp:
        workspace = make_workspace(root, mp)
        summary = retrain_credit()
    return {"root": root, "workspace": workspace, "summary": summary}


@pytest.fixture(scope="session")
def _fer_store_session(tmp_path_factory) -> dict:
    """One tiny fer-emotion training (TINY_FER: seconds), registered and promoted, shared
    by the serving and edge tests."""
    from flows.retrain_fer import retrain_fer
    from tests.integration_workspace import TINY_FER, make_workspace

    root = tmp_path_factory.mktemp("fer-store")
    with pytest.MonkeyPatch.context() as mp:
        workspace = make_workspace(root, mp, fer=TINY_FER)
        from senim.environment import resolve_stores

        tracking_uri = resolve_stores().tracking_uri
        summary = retrain_fer()
    return {"root": root, "workspace": workspace, "summary": summary, "tracking_uri": tracking_uri}


@pytest.fixture()
def trained_store(_trained_store_session, monkeypatch) -> dict:
    """The shared trained store, selected through SENIM_HOME/SENIM_WORKSPACE for one test."""
    from tests.integration_workspace import make_workspace

    make_workspace(_trained_store_session["root"], monkeypatch)
    return _trained_store_session


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """One throwaway PostgreSQL 15 server for the whole session; skips if it is not installed."""
    with running_postgres() as dsn:
        yield dsn


def pytest_configure(config: pytest.Config) -> None:
    """Keep Prefect, MLflow and matplotlib state out of the user's home during tests."""
    import os
    import tempfile

    state = tempfile.mkdtemp(prefix="senim-test-state-")
    os.environ.setdefault("PREFECT_HOME", os.path.join(state, "prefect"))
    os.environ.setdefault("MPLCONFIGDIR", os.path.join(state, "matplotlib"))
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    os.environ.setdefault("BENTOML_HOME", os.path.join(state, "bentoml"))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Flows called directly get the product's startup budget, as `senim` commands do.
    from senim.environment import PREFECT_STARTUP_TIMEOUT_SECONDS, PREFECT_STARTUP_TIMEOUT_VARIABLE

    os.environ.setdefault(PREFECT_STARTUP_TIMEOUT_VARIABLE, str(PREFECT_STARTUP_TIMEOUT_SECONDS))
