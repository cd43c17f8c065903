"""What the emotion service keeps of each classified face for monitoring
(``monitoring.keep_emotion_stats``): the emotion and confidence it answered, the face's
size in the uploaded image, and the crop's brightness and contrast. Never the image.

Each answered request is one prediction log event (inputs: those statistics), written
behind the answer like the credit service's (``serving.prediction_log``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from serving.prediction_log import PredictionEvent, PredictionLog

MONITORED_FAMILY = "emotion"
FACE_SIZE = 48

logger = logging.getLogger(__name__)


def face_statistics(
    crops: np.ndarray, boxes: Sequence[tuple[int, int, int, int]] | None = None
) -> list[dict[str, float]]:
    """Per face: ``face_width``/``face_height`` (pixels in the image; 48 for a face sent
    cropped), ``brightness`` (mean of the 48x48 crop, 0-255) and ``contrast`` (its std)."""
    if len(crops) == 0:
        return []
    pixels = np.asarray(crops, dtype=np.float32).reshape(len(crops), -1)
    sizes = boxes if boxes is not None else [(0, 0, FACE_SIZE, FACE_SIZE)] * len(crops)
    return [
        {
            "face_width": float(w),
            "face_height": float(h),
            "brightness": round(float(row.mean()), 3),
            "contrast": round(float(row.std()), 3),
        }
        for row, (_, _, w, h) in zip(pixels, sizes, strict=True)
    ]


def record_faces(
    log: PredictionLog | None,
    *,
    keep_stats: bool,
    caller: str,
    endpoint: str,
    request_id: str | None,
    card: Any,
    crops: np.ndarray,
    answers: Sequence[Any],
    started: float,
    boxes: Sequence[tuple[int, int, int, int]] | None = None,
) -> None:
    """One prediction event for the faces of a request (never raises: a response must not
    fail for its log)."""
    if log is None:
        return
    try:
        stats = face_statistics(crops, boxes)
        rows = tuple(
            {"row_index": i, "features": s, "prediction": a.emotion, "score": a.confidence}
            for i, (s, a) in enumerate(zip(stats, answers, strict=True))
        )
        log.record(
            PredictionEvent(
                caller=caller,
                endpoint=endpoint,
                model_name=card.model_name,
                model_version=card.model_version,
                data_version=getattr(card, "data_version", None),
                inputs=stats,
                outputs=[{"emotion": a.emotion, "confidence": a.confidence} for a in answers],
                latency_ms=(time.perf_counter() - started) * 1000,
                request_id=request_id,
                monitoring_family=MONITORED_FAMILY if keep_stats and rows else None,
                monitoring=rows if keep_stats else (),
            )
        )
    except Exception as exc:  # noqa: BLE001 - the log never fails an answer
        logger.warning("emotion prediction not logged: %s", exc)
