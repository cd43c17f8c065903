"""The bundled smoke-test faces (``edge/samples/faces.npz``): a handful of 48x48 grayscale
uint8 faces a new model must classify into finite probabilities before it goes into service.
Regenerate with ``python -m edge.sample_faces``; they are drawn, so no data ships."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.face_drawing import Expression, face_frame

SAMPLES_PATH = Path(__file__).parent / "samples" / "faces.npz"
FACE_SIZE = 48
_EXPRESSIONS = (
    Expression(),
    Expression(mouth_curve=0.8),
    Expression(mouth_curve=-0.8, brow_tilt=0.6),
    Expression(mouth_open=1.0, brow_tilt=-0.5),
    Expression(mouth_curve=-0.4, brow_tilt=-0.8),
    Expression(mouth_curve=0.3, mouth_open=0.5),
)


def draw_sample_faces() -> np.ndarray:
    """``(6, 48, 48)`` uint8 faces, cropped the way the runner crops a detection."""
    faces = []
    for expression in _EXPRESSIONS:
        frame = face_frame(200, 200, (((100, 100), 160, expression),))
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)[10:190, 10:190]
        faces.append(cv2.resize(gray, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA))
    return np.stack(faces).astype(np.uint8)


def load_sample_faces(path: Path = SAMPLES_PATH) -> np.ndarray:
    with np.load(path) as data:
        faces = data["faces"]
    if faces.dtype != np.uint8 or faces.ndim != 3 or faces.shape[1:] != (FACE_SIZE, FACE_SIZE):
        raise ValueError(f"{path}: expected uint8 faces of shape (N, 48, 48), got {faces.shape}")
    return faces


def main() -> None:
    SAMPLES_PATH.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(SAMPLES_PATH, faces=draw_sample_faces())
    print(f"wrote {SAMPLES_PATH} ({SAMPLES_PATH.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
