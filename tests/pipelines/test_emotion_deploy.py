"""Deploying the emotion model imports only its accepted, checksum-true TFLite exports."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipelines.emotion_deploy import copy_tflite_exports, export_path
from pipelines.model_deploy import Deployment
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
