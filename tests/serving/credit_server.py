"""Run a Senim server as a real process for tests, and talk to it.

``running_server`` starts a command (``senim serve credit|emotion``, ``bentoml serve``
from source, the team MLflow server) on a free loopback port, waits for its health path
(``/readyz`` by default, ``/livez`` when told not to expect readiness) and stops its whole
process group afterwards; on a start-up failure the server's log is in the error.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa

from auth import accounts, machine_keys
from auth.runtime import AuthRuntime, RequestMeta
from auth.tokens import issue_access_token

PASSWORD = "orbit-lantern-velvet-42"
ADMIN = "serving-admin"
TEST_META = RequestMeta(ip="local", user_agent="pytest", device_fingerprint="pytest")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def running_server(
    command: list[str],
    env: Mapping[str, str],
    log_path: Path,
    port: int,
    *,
    expect_ready: bool = True,
    timeout_s: float = 120.0,
    health_path: str | None = None,
) -> Iterator[ServerProcess]:
    """Any HTTP server command (``health_path``: what answers 200 once it is up; by
    default a BentoML service's ``/readyz``, or ``/livez`` when not expected ready)."""
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so the whole server (workers too) stops together
        )
    server = ServerProcess(f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait(server, health_path or ("/readyz" if expect_ready else "/livez"), timeout_s)
        yield server
    finally:
        _stop(process)


def _wait(server: ServerProcess, path: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.log()}")
        with contextlib.suppress(httpx.HTTPError):  # not listening yet: try again
            if httpx.get(server.url + path, timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"server not answering {path} after {timeout_s:g}s:\n{server.log()}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def senim_command(*args: str) -> list[str]:
    """The ``senim`` console script of the running interpreter's environment."""
    return [str(Path(sys.executable).parent / "senim"), *args]


class Callers:
    """Keys and users in the server's auth database, made from the test process."""

    def __init__(self, runtime: AuthRuntime) -> None:
        self.runtime = runtime
        self.admin = accounts.create_user(
            runtime, ADMIN, PASSWORD, ["admin"], TEST_META, actor_id=None
        )

    def key(self, role: str = "service", name: str = "test") -> tuple[str, str]:
        """A fresh API key ``(key, prefix)`` with ``role``."""
        created = machine_keys.create_key(
            self.runtime, name, role, TEST_META, actor_id=self.admin.id, actor_roles=("admin",)
        )
        return created.key, created.view.prefix

    def revoke(self, prefix: str) -> None:
        machine_keys.revoke_key(
            self.runtime, prefix, TEST_META, actor_id=self.admin.id, actor_roles=("admin",)
        )

    def user_token(self, username: str, roles: list[str], *, mfa: bool = True) -> str:
        """An access token for a new user with ``roles`` (2FA done when ``mfa``)."""
        user = accounts.create_user(
            self.runtime,
            username,
            PASSWORD,
            roles,
            TEST_META,
            actor_id=self.admin.id,
            actor_roles=("admin",),
        )
        return issue_access_token(
            self.runtime.tokens,
            subject=user.id,
            roles=roles,
            now=self.runtime.now(),
            extra={"mfa": mfa},
        ).token

    def prediction_rows(self, request_id: str) -> list[dict]:
        from senim.platform_db.tables import PredictionLogRecord

        table = PredictionLogRecord.__table__
        with self.runtime.engine.connect() as connection:
            rows = connection.execute(sa.select(table).where(table.c.request_id == request_id))
            return [dict(row._mapping) for row in rows]


@contextmanager
def deployed_credit_service(
    trained_root: Path, root: Path, serve_args: tuple[str, ...] = (), **sections: dict
) -> Iterator[dict]:
    """``senim deploy credit`` of the trained store's champion into a fresh SENIM_HOME
    under ``root`` (params ``sections`` on top of the fast ones), then ``senim serve
    credit`` on a free port; yields the URL, server, callers, stores and workspace."""
    import pytest

    from senim.cli.app import main
    from senim.config import load_params
    from senim.environment import resolve_stores
    from tests.integration_workspace import make_workspace

    with pytest.MonkeyPatch.context() as mp:
        make_workspace(trained_root, mp)
        tracking_uri = resolve_stores().tracking_uri  # the trained store's registry
        workspace = make_workspace(root, mp, **sections)
        mp.setenv("MLFLOW_TRACKING_URI", tracking_uri)
        with pytest.raises(SystemExit) as deployed:
            main(["deploy", "credit"])
        assert deployed.value.code in (0, None)
        stores = resolve_stores()
        params = load_params(stores.params_path)
        runtime = AuthRuntime.build(params.auth, stores.database_url, stores.home)
        callers = Callers(runtime)
        port = free_port()
        try:
            with running_server(
                senim_command("serve", "credit", "--port", str(port), *serve_args),
                os.environ,
                root / "server.log",
                port,
            ) as server:
                yield {
                    "url": server.url,
                    "server": server,
                    "callers": callers,
                    "stores": stores,
                    "workspace": workspace,
                    "tracking_uri": tracking_uri,
                }
        finally:
            runtime.close()
