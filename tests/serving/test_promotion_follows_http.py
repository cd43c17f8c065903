"""Serving follows the registry, over real HTTP: a reviewer's approval (and a rollback)
reaches a running ``senim serve credit`` while a client keeps scoring: no request fails
and the version in the answers changes exactly once; a broken version is refused and the
old one keeps serving. A challenger in shadow mode scores the same traffic off the
request path, and its report lands on the challenger's run."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.integration_workspace import write_params
from tests.pipelines.release.test_review import (
    FAST_AUTH,
    MODEL,
    PASSWORD,
    audit_rows,
    make_person,
    review_workspace,
)
from tests.serving.credit_server import Callers, free_port, running_server, senim_command

pytestmark = pytest.mark.integration

WATCH_S = 0.3  # how often the service re-reads its deployment record in this test


def _model_copy(trained_root: Path, destination: Path) -> Path:
    """The shared trained store's registered credit model, as a local MLflow model."""
    import mlflow

    from senim.environment import resolve_stores
    from tests.integration_workspace import make_workspace

    with pytest.MonkeyPatch.context() as mp:
        make_workspace(trained_root, mp)
        uri = resolve_stores().tracking_uri
    # The registry by explicit URI: another test may have set MLflow's global registry.
    source = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version_download_uri(
        MODEL, "1"
    )
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=source, dst_path=str(destination), tracking_uri=uri
    )
    return Path(local)


def _broken_copy(model_dir: Path, destination: Path) -> Path:
    """The same model with its weights replaced by garbage: MLmodel reads, loading fails."""
    shutil.copytree(model_dir, destination)
    for path in destination.rglob("*"):
        if path.is_file() and path.name != "MLmodel" and path.suffix in {".pkl", ".skops", ""}:
            path.write_bytes(b"not a model")
    return destination


def _register(source: Path) -> str:
    """A new credit-rating version from ``source``, through the gate (awaits review)."""
    from pipelines.common.mlflow_store import mlflow_client
    from pipelines.release.gate import GateDecision
    from pipelines.release.promotion import apply_gate
    from pipelines.release.registry import RegisteredVersion, model_exists
    from senim.config import load_params
    from senim.environment import resolve_stores

    stores = resolve_stores()
    client = mlflow_client(stores)
    if not model_exists(client, MODEL):
        client.create_registered_model(MODEL)
    experiment = client.get_experiment_by_name("promotion-test")
    experiment_id = (
        experiment.experiment_id
        if experiment is not None
        else client.create_experiment(
            "promotion-test", artifact_location=(stores.home / "test-artifacts").as_uri()
        )
    )  # never the default experiment: its artifacts would land in ./mlruns
    run = client.create_run(experiment_id=experiment_id, run_name=f"{MODEL} from {source.name}")
    client.set_terminated(run.info.run_id)
    version = client.create_model_version(
        MODEL,
        source=source.as_uri(),
        run_id=run.info.run_id,
        tags={"data_version": "d" * 32, "trained_by": "trainer"},
    )
    client.set_registered_model_alias(MODEL, "challenger", version.version)
    apply_gate(
        client,
        RegisteredVersion(MODEL, str(version.version), ""),
        GateDecision(passed=True, reasons=["macro_f1 ok"]),
        load_params(stores.params_path).review,
        stores.database_url,
    )
    return str(version.version)


class SteadyClient:
    """Scores one application after another on its own thread; keeps every outcome."""

    def __init__(self, url: str, key: str) -> None:
        self.url = url
        self.key = key
        self.outcomes: list[tuple[int, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SteadyClient:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        from serving.credit_model_source import smoke_application

        body = smoke_application().model_dump(by_alias=True)
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                try:
                    answer = client.post(
                        self.url + "/v1/credit/score", json=body, headers={"X-API-Key": self.key}
                    )
                except httpx.HTTPError as exc:
                    self.outcomes.append((0, repr(exc)))
                    continue
                version = answer.json()["lineage"]["model_version"] if answer.is_success else None
                self.outcomes.append((answer.status_code, version))
                time.sleep(0.02)

    def versions(self) -> list[str | None]:
        return [version for _, version in self.outcomes]

    def failures(self) -> list[tuple[int, str | None]]:
        return [outcome for outcome in self.outcomes if outcome[0] != 200]

    def wait_for(self, version: str, timeout_s: float = 120.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.outcomes and self.outcomes[-1][1] == version:
                return True
            time.sleep(0.1)
        return False


def _changes(versions: list[str | None]) -> list[tuple[str | None, str | None]]:
    return [(a, b) for a, b in zip(versions, versions[1:], strict=False) if a != b]


def _cli(*args: str) -> tuple[int, str]:
    from senim.cli.app import main

    with pytest.raises(SystemExit) as exited:
        main(list(args))
    return int(exited.value.code or 0), ""


def test_given_a_running_service_when_versions_are_approved_rolled_back_and_broken_then_no_request_fails(  # noqa: E501
    _trained_store_session, tmp_path, monkeypatch, capsys
):
    from auth.runtime import AuthRuntime
    from pipelines.credit.deploy import CREDIT
    from pipelines.release.deploy import current_deployment, deployment_record_path
    from senim.config import load_params
    from senim.environment import resolve_stores

    model_dir = _model_copy(_trained_store_session["root"], tmp_path / "downloaded")
    broken_dir = _broken_copy(model_dir, tmp_path / "broken")
    review_workspace(tmp_path / "platform", monkeypatch)
    monkeypatch.setenv("SENIM_REVIEW_PASSWORD", PASSWORD)
    write_params(
        Path(os.environ["SENIM_WORKSPACE"]),
        auth={**FAST_AUTH, "api_key_rate": {"burst": 100_000, "per_minute": 6_000_000}},
        review={"approval_required_for": [MODEL]},
        deployment={"follow_registry": True, "watch_seconds": WATCH_S},
    )
    stores = resolve_stores()
    runtime = AuthRuntime.build(
        load_params(stores.params_path).auth, stores.database_url, stores.home
    )
    key, _ = Callers(runtime).key("service")  # the first admin, then a scoring key
    alice = make_person("alice", ["reviewer"])
    bob = make_person("bob", ["reviewer"])  # one TOTP code per 30 s step each: two reviewers

    # Version 1 approved and deployed: what the service starts with.
    first = _register(model_dir)
    code, _ = _cli("review", "approve", MODEL, first, "--comment", "baseline",
                   "--username", "alice", "--totp", alice.code())  # fmt: skip
    assert code == 0, capsys.readouterr()
    code, _ = _cli("deploy", "credit")
    assert code == 0, capsys.readouterr()
    second = _register(model_dir)
    broken = _register(broken_dir)

    port = free_port()
    try:
        with running_server(
            senim_command("serve", "credit", "--port", str(port)),
            os.environ,
            tmp_path / "server.log",
            port,
        ) as server:
            # Approve version 2 while a client keeps scoring.
            with SteadyClient(server.url, key) as steady:
                assert steady.wait_for(first), server.log()
                code, _ = _cli("review", "approve", MODEL, second, "--comment", "better",
                               "--username", "alice", "--totp", alice.code())  # fmt: skip
                out = capsys.readouterr().out
                assert code == 0, out
                assert f"credit: deployed {MODEL}@champion = version {second}" in out
                assert steady.wait_for(second), server.log()
                time.sleep(1)
            assert steady.failures() == []
            assert _changes(steady.versions()) == [(first, second)]
            models = httpx.get(server.url + "/v1/models", headers={"X-API-Key": key}).json()
            assert models["models"][0]["version"] == second

            # Roll back: version 1 again, the same way.
            with SteadyClient(server.url, key) as steady:
                assert steady.wait_for(second)
                code, _ = _cli("review", "rollback", MODEL, "--comment", "regression",
                               "--username", "bob", "--totp", bob.code())  # fmt: skip
                assert code == 0, capsys.readouterr()
                assert steady.wait_for(first), server.log()
                time.sleep(1)
            assert steady.failures() == []
            assert _changes(steady.versions()) == [(second, first)]

            # A broken version is approved, but its deployment is refused: never served.
            with SteadyClient(server.url, key) as steady:
                assert steady.wait_for(first)
                code, _ = _cli("review", "approve", MODEL, broken, "--comment", "oops",
                               "--username", "bob", "--totp", bob.code())  # fmt: skip
                said = capsys.readouterr()
                time.sleep(1)
            assert code != 0, said
            assert f"cannot deploy {MODEL}@champion" in said.err, said
            assert "the old version keeps serving" in said.err
            assert steady.failures() == []
            assert set(steady.versions()) == {first}
            assert current_deployment(CREDIT, stores).mlflow_version == first
            failure = audit_rows("deployment.follow")[-1]
            assert failure.outcome == "failure" and failure.details["version"] == broken

            # A record naming a model that cannot load: logged, refused, old one serves.
            record = deployment_record_path(stores, CREDIT)
            good = record.read_text()
            state = json.loads(good)
            state["current"] = "credit-rating:mlflow-v999"
            record.write_text(json.dumps(state))
            with SteadyClient(server.url, key) as steady:
                assert steady.wait_for(first)
                deadline = time.monotonic() + 30
                while "cannot serve" not in server.log() and time.monotonic() < deadline:
                    time.sleep(0.2)
                time.sleep(1)
            log = server.log()
            assert f"keeps serving {MODEL} version {first}" in log, log
            assert "credit-rating:mlflow-v999 is not in the BentoML model store" in log
            assert steady.failures() == []
            assert set(steady.versions()) == {first}
            record.write_text(good)  # the record names what serves again

            # Shadow mode: version 2 scores the live traffic too, never answering.
            _set_alias("challenger", second)
            code, _ = _cli("deploy", "credit", "--shadow", "challenger")
            assert code == 0, capsys.readouterr()
            deadline = time.monotonic() + 30
            while "shadow credit-rating version 2" not in server.log():
                assert time.monotonic() < deadline, server.log()
                time.sleep(0.2)
            with SteadyClient(server.url, key) as steady:
                time.sleep(2)
            assert steady.failures() == []
            assert set(steady.versions()) == {first}  # the shadow never answers
            models = httpx.get(server.url + "/v1/models", headers={"X-API-Key": key}).json()
            assert [(m["version"], m["role"]) for m in models["models"]] == [
                (first, "live"),
                (second, "shadow"),
            ]
            time.sleep(1)  # the shadow and the prediction log write behind the answers
            capsys.readouterr()
            code, _ = _cli("deploy", "shadow-report", "credit")
            report = capsys.readouterr().out
            assert code == 0, report
            assert f"Shadow report: {MODEL} version {second}" in report
            assert "| band agreement | 1.0000 |" in report  # the same weights
            tags = _version_tags(second)
            assert tags["evidence.shadow.band_agreement"] == "1.0000"
            assert tags["evidence.shadow.path"] == "evidence/shadow-report.json"
            assert {"shadow-report.json", "shadow-report.md"} <= _run_artifacts(second)
    finally:
        runtime.close()


def _set_alias(alias: str, version: str) -> None:
    from pipelines.common.mlflow_store import mlflow_client
    from senim.environment import resolve_stores

    mlflow_client(resolve_stores()).set_registered_model_alias(MODEL, alias, version)


def _version_tags(version: str) -> dict:
    from pipelines.common.mlflow_store import mlflow_client
    from senim.environment import resolve_stores

    return dict(mlflow_client(resolve_stores()).get_model_version(MODEL, version).tags)


def _run_artifacts(version: str) -> set[str]:
    from pipelines.common.mlflow_store import mlflow_client
    from senim.environment import resolve_stores

    client = mlflow_client(resolve_stores())
    run_id = client.get_model_version(MODEL, version).run_id
    return {Path(item.path).name for item in client.list_artifacts(run_id, "evidence")}
