"""What both services know about the model they serve: its card (``GET /v1/models``, log
lines), read from the BentoML model store's labels, and the Bento's build arguments."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.release.bento_build import MODEL_TAG_ARGUMENT
from senim.environment import Stores

_SOURCE_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ServedModelCard:
    """The served version and its lineage; ``runtime`` names an export (emotion) if any."""

    model_name: str
    model_version: str
    bento_tag: str
    alias: str | None
    run_id: str | None
    data_version: str | None
    git_commit: str | None
    metrics: dict[str, float]
    runtime: str | None = None

    @classmethod
    def from_stored(cls, stored: Any, runtime: str | None = None) -> ServedModelCard:
        """The card of a BentoML stored model imported by ``senim deploy`` (its labels)."""
        labels: dict[str, Any] = dict(stored.info.labels or {})
        metadata: dict[str, Any] = dict(stored.info.metadata or {})
        return cls(
            model_name=labels.get("mlflow_model", stored.tag.name),
            model_version=labels.get("mlflow_version", stored.tag.version or ""),
            bento_tag=str(stored.tag),
            alias=labels.get("alias"),
            run_id=labels.get("run_id"),
            data_version=labels.get("data_version"),
            git_commit=labels.get("git_commit"),
            metrics={k: float(v) for k, v in (metadata.get("metrics") or {}).items()},
            runtime=runtime,
        )

    def describe(self) -> str:
        """``credit-rating version 3 (credit-rating:v3), data <md5>`` for log lines."""
        runtime = f", {self.runtime}" if self.runtime else ""
        return (
            f"{self.model_name} version {self.model_version} ({self.bento_tag}{runtime}), "
            f"data {self.data_version}"
        )

    def as_json(self) -> dict[str, Any]:
        """One entry of ``GET /v1/models``."""
        card: dict[str, Any] = {
            "name": self.model_name,
            "version": self.model_version,
            "alias": self.alias,
            "bento_model": self.bento_tag,
        }
        if self.runtime is not None:
            card["runtime"] = self.runtime
        card.update(
            run_id=self.run_id,
            data_version=self.data_version,
            git_commit=self.git_commit,
            metrics=self.metrics,
        )
        return card


def bento_argument(name: str) -> str | None:
    """A build argument of the Bento being served (None when serving from source)."""
    import bentoml

    value = getattr(bentoml.use_arguments(), name, None)
    return str(value) if value else None


def service_params_path(stores: Stores) -> Path:
    """A Bento serves with the params.yaml it was built with; from source, the workspace's."""
    if bento_argument(MODEL_TAG_ARGUMENT):
        return _SOURCE_ROOT / "params.yaml"
    return stores.params_path
