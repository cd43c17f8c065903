"""Run the team MLflow server (``senim.cli.mlflow_server.prepare_server``'s launch) for a test.

The server gets its own process group so its uvicorn workers stop with it; on a start-up
failure its log is in the error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from senim.cli.mlflow_server import ServerLaunch
from tests.serving.credit_server import running_server

START_TIMEOUT_S = 120.0  # a cold start imports all of MLflow twice on 2 shared cores


@contextmanager
def running_mlflow_server(launch: ServerLaunch, log_path: Path, port: int) -> Iterator[str]:
    """Start ``launch``, wait for ``/health`` and yield the server's base URL."""
    with running_server(
        launch.argv, launch.env, log_path, port, health_path="/health", timeout_s=START_TIMEOUT_S
    ) as server:
        yield server.url
