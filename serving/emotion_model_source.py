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
from serving.served_model import ServedModelCard

MODEL_TAG_ENV = "SENIM_EMOTION_MODEL_TAG"


@dataclass(frozen=True)
class EmotionModel:
    card: ServedModelCard
    classifier: Any  # pipelines.fer.export.TFLiteClassifier
    # A TFLite interpreter is not thread-safe; a face takes well under a millisecond.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def predict_proba(self, faces: np.ndarray) -> np.ndarray:
        """(N, 7) probabilities for uint8 faces (N, 48, 48)."""
        with self._lock:
            return self.classifier.predict_proba(faces)


def resolve_model_tag(stores: Stores, env: Mapping[str, str] | None = None) -> str:
    from pipelines.fer.deploy import EMOTION
    from pipelines.release.deploy import resolve_served_tag

    return resolve_served_tag(EMOTION, stores, MODEL_TAG_ENV, env)


def load_emotion_model(tag: str, params: EmotionServiceParams) -> EmotionModel:
    """The export ``params.runtime`` names (the other one when only it was accepted),
    checked on a start-up face before use."""
    import bentoml
    from bentoml.exceptions import NotFound

    from pipelines.fer.deploy import EXPORT_KINDS, export_path
    from pipelines.fer.export import TFLiteClassifier

    try:
        stored = bentoml.models.get(tag)
    except NotFound:
        raise RegistryError(f"model {tag} is not in the BentoML model store") from None
    kinds = [params.runtime, *(k for k in EXPORT_KINDS if k != params.runtime)]
    available = [k for k in kinds if export_path(stored.path, k).is_file()]
    if not available:
        raise RegistryError(f"model {tag} holds no TFLite export")
    kind = available[0]
    card = ServedModelCard.from_stored(stored, runtime=f"tflite-{kind}")
    try:
        classifier = TFLiteClassifier(export_path(stored.path, kind), num_threads=1)
        proba = classifier.predict_proba(np.full((1, 48, 48), 128, dtype=np.uint8))
    except Exception as exc:  # noqa: BLE001 - a model that cannot classify is not servable
        raise RegistryError(f"model {tag} failed its start-up check: {exc}") from None
    if proba.shape != (1, 7) or not np.isfinite(proba).all():
        raise RegistryError(f"model {tag} failed its start-up check: output {proba.shape}")
    return EmotionModel(card=card, classifier=classifier)
