"""MLflow for the emotion model: one run per retraining, the registered ``fer-emotion``
version with its lineage, and the evidence the gate compares against.

The Keras model is logged with MLflow's Keras flavour; the TFLite exports, plots and
reports are artifacts of the same run, and the version's tags say where each export is,
its size, sha256, measured accuracy and whether it was accepted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.common.lineage import Lineage
from pipelines.common.metric_values import tag_decimals
from pipelines.fer.gate import FerChampionEvidence
from pipelines.release.registry import (
    CHAMPION,
    RegisteredVersion,
    current_alias,
    register_version,
)

DESCRIPTION = "Seven-class facial emotion (FER2013 coding) from 48x48 grayscale faces."


@dataclass(frozen=True)
class FerRun:
    run_id: str
    model_uri: str
    experiment_id: str


def log_fer_run(
    *,
    experiment_id: str,
    model: Any,
    params_flat: dict[str, str],
    metrics: dict[str, float],
    artifacts_dir: Path,
    lineage: Lineage,
    run_name: str,
    run_id: str | None = None,
) -> FerRun:
    """One MLflow run: params, metrics, every file under ``artifacts_dir``, the model.
    ``run_id``: the run opened before training (it holds the live curve) to finish."""
    import mlflow

    opened = {"run_id": run_id} if run_id else {"run_name": run_name}
    with mlflow.start_run(experiment_id=experiment_id, **opened) as run:
        mlflow.set_tags({**lineage.tags(), "model_family": "fer-emotion"})
        mlflow.log_params(params_flat)
        mlflow.log_metrics(metrics)
        mlflow.log_artifacts(str(artifacts_dir))
        info = mlflow.keras.log_model(model, name="model", pip_requirements=_requirements())
    return FerRun(run.info.run_id, info.model_uri, experiment_id)


def register_fer(
    client, name: str, run: FerRun, lineage: Lineage, extra_tags: dict[str, str]
) -> RegisteredVersion:
    """A new version tagged with its lineage, alias ``challenger``; undone if that fails."""
    return register_version(
        client,
        name,
        description=DESCRIPTION,
        source=run.model_uri,
        run_id=run.run_id,
        tags={**lineage.tags(), "gate.decision": "pending", **extra_tags},
    )


def fer_champion_evidence(
    client, name: str, data_version: str, evaluate
) -> FerChampionEvidence | None:
    """The champion's accuracy on the current evaluation images: its tag when it was
    evaluated on this data version, else ``evaluate(model_uri)`` (the champion scored
    now, on the same images as the challenger)."""
    champion = current_alias(client, name, CHAMPION)
    if champion is None:
        return None
    tags = champion.tags or {}
    if tags.get("data_version") == data_version and "eval.accuracy" in tags:
        stored = tags["eval.accuracy"]
        return FerChampionEvidence(str(champion.version), float(stored), tag_decimals(stored))
    accuracy = evaluate(f"models:/{name}/{champion.version}")
    return FerChampionEvidence(str(champion.version), float(accuracy))


def export_tags(records: list[Any]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for record in records:
        prefix = f"export.{record.kind}"
        tags.update(
            {
                f"{prefix}.artifact": f"exports/{Path(record.path).name}",
                f"{prefix}.size_bytes": str(record.size_bytes),
                f"{prefix}.sha256": record.sha256,
                f"{prefix}.accuracy": f"{record.accuracy:.6f}",
                f"{prefix}.accepted": str(record.accepted).lower(),
                f"{prefix}.reason": str(record.reason)[:500],
            }
        )
    return tags


def write_json(path: Path, value: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, sort_keys=True, default=str))
    return path


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("tensorflow", "keras", "numpy")]
