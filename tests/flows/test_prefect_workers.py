"""Retraining on Prefect workers: a real `prefect server`, the `senim-process` work pool,
two `prefect worker` processes and `retrain-credit` deployed from prefect.yaml, all
started here and stopped after.

Two runs triggered together both complete, each on its own worker (a worker takes one
run at a time, ``--limit 1``). Each run gets its own SENIM_HOME through the deployment's
job variables: one retraining per family holds the lease of a platform database, so two
runs on one database would take turns (the second refused), which is the lease's job and
tested elsewhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.serving.credit_server import free_port, running_server

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def _prefect(*args: str, env: dict, timeout: float = 180) -> str:
    done = subprocess.run(
        [str(BIN / "prefect"), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def prefect_site(tmp_path_factory):
    from tests.integration_workspace import write_params

    root = tmp_path_factory.mktemp("prefect-workers")
    workspace = root / "workspace"
    workspace.mkdir()
    write_params(workspace)
    # prefect.yaml's pull step runs flows from SENIM_WORKSPACE: the code must be there.
    for package in ("flows",):
        (workspace / package).symlink_to(REPO / package)
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PREFECT_HOME": str(root / "prefect"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{root / 'prefect.db'}",
        "SENIM_WORKSPACE": str(workspace),
        "SENIM_HOME": str(root / "home"),
        "DO_NOT_TRACK": "1",
        # The workers' own log lines ("... submitting flow run <id>") on their console.
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    for variable in ("MLFLOW_TRACKING_URI", "SENIM_DATABASE_URL", "SENIM_OPTUNA_STORAGE"):
        env.pop(variable, None)
    command = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with running_server(
        command, env, root / "server.log", port, health_path="/api/health", timeout_s=240
    ):
        _prefect("work-pool", "create", "senim-process", "--type", "process", env=env)
        _prefect("--no-prompt", "deploy", "--name", "retrain-credit-weekly", env=env)
        workers = [
            subprocess.Popen(
                [
                    str(BIN / "prefect"),
                    "worker",
                    "start",
                    "--pool",
                    "senim-process",
                    "--name",
                    name,
                    "--limit",
                    "1",
                ],
                env=env,
                cwd=workspace,
                stdout=(root / f"{name}.log").open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            for name in ("worker-a", "worker-b")
        ]
        try:
            yield {"root": root, "env": env, "workers": workers}
        finally:
            import signal

            for worker in workers:
                if worker.poll() is None:
                    os.killpg(worker.pid, signal.SIGTERM)
            for worker in workers:
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)


def _state(env: dict, run_id: str) -> str:
    """The flow run's state type, as the Prefect server reports it (`prefect flow-run inspect`)."""
    import re

    shown = _prefect("flow-run", "inspect", run_id, env=env, timeout=60)
    match = re.search(r"state_type=StateType\.([A-Z]+)", shown)
    return match.group(1) if match else "UNKNOWN"


def test_given_two_workers_when_two_retrainings_are_triggered_then_both_complete_on_each(
    prefect_site,
):
    env, root = prefect_site["env"], prefect_site["root"]
    run_ids = []
    for name in ("first", "second"):
        home = json.dumps({"SENIM_HOME": str(root / f"home-{name}")})
        out = _prefect(
            "deployment",
            "run",
            "retrain-credit/retrain-credit-weekly",
            "--job-variable",
            f"env={home}",
            env=env,
        )
        run_ids.append(next(line.split()[-1] for line in out.splitlines() if "UUID:" in line))

    deadline = time.monotonic() + 600
    states = {}
    while time.monotonic() < deadline:
        states = {run_id: _state(env, run_id) for run_id in run_ids}
        if all(
            state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") for state in states.values()
        ):
            break
        time.sleep(3)

    logs = {name: (root / f"{name}.log").read_text() for name in ("worker-a", "worker-b")}
    assert set(states.values()) == {"COMPLETED"}, (states, logs)
    # Both workers may try to claim a run; the server lets one through and aborts the other.
    ran_by = {
        run_id: [
            name
            for name, log in logs.items()
            if f"submitting flow run '{run_id}'" in log
            and f"Aborted submission of flow run '{run_id}'" not in log
        ]
        for run_id in run_ids
    }
    assert all(len(names) == 1 for names in ran_by.values()), ran_by
    assert {names[0] for names in ran_by.values()} == {"worker-a", "worker-b"}
