"""Deploy the emotion model: ``models:/fer-emotion@<alias>`` imported with its lineage and
its accepted TFLite exports, served by a Bento of ``serving/emotion_service.py``.

Only the exports are imported (no Keras model, no TensorFlow in the service): each is
downloaded from the version's run, checked against the sha256 tagged on the version, and
stored as ``exports/<kind>.tflite``. A version without an accepted export is refused.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from pipelines.release.deploy import Deployment, ServiceFamily
from senim.errors import RegistryError

BENTO_MODEL_NAME = "fer-emotion"
EXPORT_KINDS = ("float16", "int8")
EMOTION_BENTOFILE = "bentofile.emotion.yaml"


def export_path(model_path: Path, kind: str) -> Path:
    return Path(model_path) / "exports" / f"{kind}.tflite"


def copy_tflite_exports(client, version, deployment: Deployment, destination: Path) -> None:
    import mlflow

    tags = version.tags or {}
    accepted = [k for k in EXPORT_KINDS if tags.get(f"export.{k}.accepted") == "true"]
    if not accepted:
        raise RegistryError(
            f"{deployment.mlflow_model} version {deployment.mlflow_version} has no accepted "
            "TFLite export to serve (see its export.* tags)"
        )
    for kind in accepted:
        local = Path(
            mlflow.artifacts.download_artifacts(
                run_id=version.run_id,
                artifact_path=tags[f"export.{kind}.artifact"],
                tracking_uri=getattr(client, "tracking_uri", None),
            )
        )
        digest = hashlib.sha256(local.read_bytes()).hexdigest()
        if digest != tags.get(f"export.{kind}.sha256"):
            raise RegistryError(
                f"{deployment.mlflow_model} version {deployment.mlflow_version}: the {kind} "
                "export's sha256 does not match the one tagged at registration"
            )
        target = export_path(destination, kind)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, target)


EMOTION = ServiceFamily(
    key="emotion",
    bento_model_name=BENTO_MODEL_NAME,
    copy_artifacts=copy_tflite_exports,
    registered_name=lambda params: params.fer.registry.model_name,
    bentofile=EMOTION_BENTOFILE,
)
