"""The emotion service (BentoML, new-style service API), behind the auth layer.

Routes:

- ``POST /v1/emotion/predict``: a photo (a JPEG or PNG body, or a multipart upload with
  the file in field ``image``). Faces are found with OpenCV's Haar cascade and each gets
  its box, emotion, confidence and seven probabilities; no face is an empty list.
- ``POST /v1/emotion/predict_faces``: ``{"faces": [48x48 arrays of 0..255]}``, already
  cropped faces, with BentoML's adaptive batching across requests.
- ``/v1/edge/*``: signed model manifests, artifact downloads, events and heartbeats for
  camera hosts (``serving.edge_api``).
- ``GET /v1/models``, ``/auth/*``, ``/livez``, ``/readyz``, ``/docs`` as in the credit
  service.

Every ``/v1/*`` request passes ``GuardMiddleware`` (body limit, pickle refused, request
id) and ``AuthMiddleware`` (API key or JWT, the route's permission). The model, a TFLite
export of the deployed ``fer-emotion`` version, loads in the background.

Serve a deployed Bento with ``senim serve emotion``.
"""

from __future__ import annotations

import time
from typing import Annotated

import bentoml
import numpy as np
from bentoml.exceptions import ServiceUnavailable
from pydantic import Field

from auth.asgi import GuardMiddleware
from auth.permissions import Permission
from senim.environment import serving_workers
from serving.edge_api import EDGE_REQUIRED_PERMISSIONS
from serving.emotion_monitoring import record_faces
from serving.emotion_routes import extend_emotion_app
from serving.emotion_schemas import Face, FacePrediction, predictions
from serving.emotion_serving_state import EmotionServingState
from serving.error_shape import UniformErrors
from serving.platform_app import LazyPlatformApp, ServingAuth
from serving.route_metrics import install_route_labels
from serving.service_logging import configure_service_logging

# /metrics labels requests by route template, never by raw path (bounded series).
install_route_labels()

STATE = EmotionServingState()
PLATFORM_APP = LazyPlatformApp(
    STATE,
    extend=extend_emotion_app,
    service_spec=lambda: EmotionService.openapi_spec.asdict(),
    title="Senim emotion recognition",
)

MAX_FACES_PER_REQUEST = 256
# A photo up to emotion_service.max_image_bytes plus multipart framing; the handler
# applies the configured limit (413) itself.
MAX_BODY_BYTES = 12 * 1_048_576
BATCH_MAX_LATENCY_MS = 10_000

# First match wins; any other /v1/ path only needs a valid caller.
REQUIRED_PERMISSIONS: tuple[tuple[str, Permission], ...] = (
    ("/v1/emotion/", Permission.PREDICT_EMOTION),
    *EDGE_REQUIRED_PERMISSIONS,
    ("/v1/models", Permission.READ_MODELS),
    ("/v1/monitoring/", Permission.READ_MODELS),
)

FaceList = Annotated[list[Face], Field(min_length=1, max_length=MAX_FACES_PER_REQUEST)]


@bentoml.service(
    name="emotion-service",
    traffic={"timeout": 30},
    # `senim serve --workers N`: N processes; rate limits then live in the platform database
    workers=serving_workers(),
)
@bentoml.asgi_app(PLATFORM_APP, path="/auth")
@bentoml.asgi_app(PLATFORM_APP, path="/v1")
@bentoml.asgi_app(PLATFORM_APP, path="/docs")
class EmotionService:
    def __init__(self) -> None:
        configure_service_logging()
        STATE.start()

    def __is_ready__(self) -> bool:
        return STATE.ready

    @bentoml.on_shutdown
    def _close(self) -> None:
        STATE.close()

    @bentoml.api(
        route="/v1/emotion/predict_faces",
        batchable=True,
        max_batch_size=MAX_FACES_PER_REQUEST,
        max_latency_ms=BATCH_MAX_LATENCY_MS,
    )
    def predict_faces(self, faces: FaceList) -> list[FacePrediction]:
        """Classify cropped 48x48 grayscale faces; answers come back in the order sent."""
        if STATE.loaded is None:
            raise ServiceUnavailable("the model is still loading")
        started = time.perf_counter()
        loaded = STATE.loaded
        model = loaded.model
        crops = np.asarray(faces, dtype=np.uint8)
        proba = model.predict_proba(crops)
        answers = predictions(proba, model.card.model_version)
        # Adaptive batching merged several requests' faces: one event for the batch.
        record_faces(
            loaded.prediction_log,
            keep_stats=loaded.params.monitoring.keep_emotion_stats,
            caller="adaptive-batch",
            endpoint="/v1/emotion/predict_faces",
            request_id=None,
            card=model.card,
            crops=crops,
            answers=answers,
            started=started,
        )
        return answers


EmotionService.add_asgi_middleware(GuardMiddleware, max_body_bytes=MAX_BODY_BYTES)
EmotionService.add_asgi_middleware(UniformErrors)
EmotionService.add_asgi_middleware(ServingAuth, state=STATE, required=REQUIRED_PERMISSIONS)
