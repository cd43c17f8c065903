"""Run the team MLflow server (``senim.mlflow_server.prepare_server``'s launch) for a test.

The server gets its own process group so its uvicorn workers stop with it; on a start-up
failure its log is in the error.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from senim.mlflow_server import ServerLaunch

START_TIMEOUT_S = 120.0  # a cold start imports all of MLflow twice on 2 shared cores


@contextmanager
def running_mlflow_server(launch: ServerLaunch, log_path: Path, port: int) -> Iterator[str]:
    """Start ``launch``, wait for ``/health`` and yield the server's base URL."""
    url = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            launch.argv, env=launch.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        _wait_healthy(process, url, log_path)
        yield url
    finally:
        _stop(process)


def _wait_healthy(process: subprocess.Popen, url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"mlflow server exited with {process.returncode}:\n{log_path.read_text()[-4000:]}"
            )
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"mlflow server not healthy:\n{log_path.read_text()[-4000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
