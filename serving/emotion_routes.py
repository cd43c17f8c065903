"""The emotion service's own FastAPI routes: the photo upload (``POST
/v1/emotion/predict``) and, when the edge API is installed, ``/v1/edge/*``."""

from __future__ import annotations

import threading
import time
from typing import Any

from starlette.requests import Request  # module level: FastAPI resolves the annotation

from serving.emotion_monitoring import record_faces
from serving.emotion_schemas import ImageInfo, ImagePrediction, ModelInfo, predictions
from serving.face_detection import FaceDetector, ImageRejected
from serving.monitoring_routes import add_report_route

IMAGE_TYPES = ("image/jpeg", "image/png")


def extend_emotion_app(app: Any, runtime: Any, state: Any) -> None:
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    local = threading.local()  # one cascade per thread: OpenCV's is not shared safely

    def detector() -> FaceDetector:
        if getattr(local, "detector", None) is None:
            local.detector = FaceDetector(state.loaded.params.emotion_service)
        return local.detector

    def classify(content: bytes, scope: dict) -> ImagePrediction:
        started = time.perf_counter()
        loaded = state.loaded
        found = detector()
        faces = found.detect(found.decode(content))
        card = loaded.model.card
        proba = loaded.model.predict_proba(faces.crops) if len(faces.boxes) else []
        answers = predictions(proba, card.model_version, faces.boxes)
        request_state = scope.get("state", {})
        record_faces(
            loaded.prediction_log,
            keep_stats=loaded.params.monitoring.keep_emotion_stats,
            caller=getattr(request_state.get("principal"), "label", "anonymous"),
            endpoint="/v1/emotion/predict",
            request_id=request_state.get("request_id"),
            card=card,
            crops=faces.crops,
            answers=answers,
            started=started,
            boxes=faces.boxes,
        )
        return ImagePrediction(
            faces=answers,
            image=ImageInfo(width=faces.width, height=faces.height),
            model=ModelInfo(name=card.model_name, version=card.model_version, runtime=card.runtime),
        )

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": "bad_image", "message": message}, status_code=status)

    @app.post("/v1/emotion/predict", response_model=ImagePrediction, tags=["emotion"])
    async def predict_image(request: Request) -> Any:
        """A photo in, every face found out (box, emotion, confidence, probabilities).

        Send the JPEG or PNG as the body (``Content-Type: image/jpeg`` or ``image/png``)
        or as a multipart upload in field ``image``. Cropped 48x48 faces go to
        ``/v1/emotion/predict_faces`` instead.
        """
        if state.loaded is None:
            return JSONResponse(
                {"error": "not_ready", "message": "the model is still loading"}, status_code=503
            )
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "multipart/form-data":
            try:
                form = await request.form(max_files=1, max_fields=4)
            except Exception as exc:  # noqa: BLE001 - any multipart parse failure is a 400
                return error(400, f"the multipart body cannot be read: {exc}")
            upload = form.get("image")
            if upload is None or isinstance(upload, str):
                return error(400, "the multipart body has no file in field 'image'")
            content = await upload.read()
        elif kind in IMAGE_TYPES:
            content = await request.body()
        else:
            return error(
                415,
                f"Content-Type {kind or '(none)'} is not accepted: send image/jpeg, image/png "
                "or multipart/form-data with field 'image' (arrays of faces go to "
                "/v1/emotion/predict_faces)",
            )
        try:
            return await run_in_threadpool(classify, content, request.scope)
        except ImageRejected as exc:
            return error(exc.status, str(exc))

    _add_edge_routes(app, runtime, state)
    add_report_route(app, "emotion")


def _add_edge_routes(app: Any, runtime: Any, state: Any) -> None:
    """The edge distribution API (``serving.edge_api``): manifests, artifacts, events and
    heartbeats for camera hosts, under ``/v1/edge``."""
    from serving.edge_api import LazyEdgeApp

    loaded = state.loaded
    model_name = loaded.params.fer.registry.model_name
    app.mount("/v1/edge", LazyEdgeApp(lambda: runtime, loaded.stores, model_name))
