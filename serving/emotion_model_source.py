"""Which emotion model a service serves, and loading its TFLite export from the BentoML
model store. The tag comes, first match wins, from the Bento's ``model_tag`` build
argument, ``SENIM_EMOTION_MODEL_TAG``, or the current emotion deployment (see
``serving.credit_model_source`` for why)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from senim.config import EmotionServiceParams
from senim.environment import Stores
from senim.errors import RegistryError

MODEL_TAG_ENV = "SENIM_EMOTION_MODEL_TAG"


@dataclass(frozen=True)
class EmotionModelCard:
    model_name: str
    model_version: str
    bento_tag: str
    runtime: str  # tflite-float16 or tflite-int8
    alias: str | None
    run_id: str | None
    data_version: str | None
    git_commit: str | None
    metrics: dict[str, float]


@dataclass(frozen=True)
class EmotionModel:
    card: EmotionModelCard
    classifier: Any  # pipelines.fer_export.TFLiteClassifier
    # A TFLite interpreter is not thread-safe; a face takes well under a millisecond.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def predict_proba(self, faces: np.ndarray) -> np.ndarray:
        """(N, 7) probabilities for uint8 faces (N, 48, 48)."""
        with self._lock:
            return self.classifier.predict_proba(faces)


def resolve_model_tag(stores: Stores, env: Mapping[str, str] | None = None) -> str:
    from pipelines.emotion_deploy import EMOTION
    from pipelines.model_deploy import resolve_served_tag

    return resolve_served_tag(EMOTION, stores, MODEL_TAG_ENV, env)


def load_emotion_model(tag: str, params: EmotionServiceParams) -> EmotionModel:
    """The export ``params.runtime`` names (the other one when only it was accepted),
    checked on a start-up face before use."""
    import bentoml
    from bentoml.exceptions import NotFound

    from pipelines.emotion_deploy import EXPORT_KINDS, export_path
    from pipelines.fer_export import TFLiteClassifier

    try:
        stored = bentoml.models.get(tag)
    except NotFound:
        raise RegistryError(f"model {tag} is not in the BentoML model store") from None
    kinds = [params.runtime, *(k for k in EXPORT_KINDS if k != params.runtime)]
    available = [k for k in kinds if export_path(stored.path, k).is_file()]
    if not available:
        raise RegistryError(f"model {tag} holds no TFLite export")
    kind = available[0]
    labels: dict[str, Any] = dict(stored.info.labels or {})
    metadata: dict[str, Any] = dict(stored.info.metadata or {})
    card = EmotionModelCard(
        model_name=labels.get("mlflow_model", stored.tag.name),
        model_version=labels.get("mlflow_version", stored.tag.version or ""),
        bento_tag=str(stored.tag),
        runtime=f"tflite-{kind}",
        alias=labels.get("alias"),
        run_id=labels.get("run_id"),
        data_version=labels.get("data_version"),
        git_commit=labels.get("git_commit"),
        metrics={k: float(v) for k, v in (metadata.get("metrics") or {}).items()},
    )
    try:
        classifier = TFLiteClassifier(export_path(stored.path, kind), num_threads=1)
        proba = classifier.predict_proba(np.full((1, 48, 48), 128, dtype=np.uint8))
    except Exception as exc:  # noqa: BLE001 - a model that cannot classify is not servable
        raise RegistryError(f"model {tag} failed its start-up check: {exc}") from None
    if proba.shape != (1, 7) or not np.isfinite(proba).all():
        raise RegistryError(f"model {tag} failed its start-up check: output {proba.shape}")
    return EmotionModel(card=card, classifier=classifier)
