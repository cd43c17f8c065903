"""Deploying the emotion model imports only its accepted, checksum-true TFLite exports."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipelines.fer.deploy import copy_tflite_exports, export_path
from pipelines.release.deploy import Deployment
from senim.errors import RegistryError

DEPLOYMENT = Deployment(
    tag="fer-emotion:mlflow-v4", mlflow_model="fer-emotion", mlflow_version="4", run_id="r1",
    data_version="d", git_commit="c", alias="champion", created=False,
)  # fmt: skip


def _version(tmp_path: Path, accepted: dict[str, bool], digest_of: dict[str, bytes]):
    tags = {}
    for kind, ok in accepted.items():
        content = digest_of.get(kind, kind.encode())
        (tmp_path / f"{kind}.tflite").write_bytes(kind.encode())
        tags |= {
            f"export.{kind}.accepted": "true" if ok else "false",
            f"export.{kind}.artifact": f"exports/{kind}.tflite",
            f"export.{kind}.sha256": hashlib.sha256(content).hexdigest(),
        }
    return SimpleNamespace(tags=tags, run_id="r1")


@pytest.fixture()
def artifacts(tmp_path, monkeypatch):
    import mlflow

    def download(run_id, artifact_path, tracking_uri=None):
        return str(tmp_path / Path(artifact_path).name)

    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", download)
    return tmp_path


def test_given_accepted_exports_when_copied_then_each_lands_under_exports(artifacts, tmp_path):
    version = _version(artifacts, {"float16": True, "int8": False}, {})
    destination = tmp_path / "model"
    copy_tflite_exports(None, version, DEPLOYMENT, destination)
    assert export_path(destination, "float16").read_bytes() == b"float16"
    assert not export_path(destination, "int8").exists()


def test_given_no_accepted_export_when_deployed_then_refused_naming_the_version(artifacts):
    version = _version(artifacts, {"float16": False, "int8": False}, {})
    with pytest.raises(RegistryError, match="fer-emotion version 4 has no accepted TFLite"):
        copy_tflite_exports(None, version, DEPLOYMENT, artifacts / "model")


def test_given_export_changed_since_registration_when_deployed_then_refused(artifacts):
    version = _version(artifacts, {"int8": True}, {"int8": b"what was registered"})
    with pytest.raises(RegistryError, match="int8 export's sha256 does not match"):
        copy_tflite_exports(None, version, DEPLOYMENT, artifacts / "model")


@pytest.mark.integration
def test_given_fer_champion_when_deploy_emotion_flow_runs_twice_then_imported_once(
    _fer_store_session, tmp_path, monkeypatch
):
    """deploy-emotion: the champion's exports in the model store, a pinned Bento, a no-op
    the second time, and nothing to roll back to after one deployment."""
    from flows.deploy_service import deploy_emotion_flow
    from pipelines.fer.deploy import EMOTION
    from pipelines.release.deploy import current_deployment, model_store, rollback_model
    from senim.environment import resolve_stores
    from tests.integration_workspace import TINY_FER, make_workspace

    make_workspace(tmp_path, monkeypatch, fer=TINY_FER)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", _fer_store_session["tracking_uri"])
    first = deploy_emotion_flow(alias="champion")
    again = deploy_emotion_flow(alias="champion")
    stores = resolve_stores()
    assert first["created"] and not again["created"] and first["tag"] == "fer-emotion:mlflow-v1"
    assert first["bento_tag"].startswith("emotion-service:v1-") and not again["bento_built"]
    assert current_deployment(EMOTION, stores).tag == first["tag"]
    stored = model_store(stores).get(first["tag"])
    assert export_path(stored.path, "float16").is_file()
    assert stored.info.labels["data_version"] == _fer_store_session["summary"].data_version
    with pytest.raises(RegistryError, match="fewer than two emotion deployments"):
        rollback_model(EMOTION, stores)
