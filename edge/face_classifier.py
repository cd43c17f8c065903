"""One loaded TFLite emotion model: 48x48 grayscale uint8 face in, class probabilities out.
Quantisation is read from the model's own tensors, so int8 (uint8 I/O) and float exports
both run. ``smoke_test`` is the gate a downloaded model passes before it serves."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

FACE_SHAPE = (48, 48)
SUM_TOLERANCE = 0.06  # uint8 outputs move in steps of 1/256, seven of them


class ModelRejected(Exception):
    """A model file that must not go into service; the message says why."""


class FaceClassifier:
    """Thread-safe: ``classify`` holds a lock, since a LiteRT interpreter is not reentrant."""

    def __init__(self, path: Path, classes: tuple[str, ...], version: str) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.version, self.classes, self.path = version, classes, Path(path)
        try:
            self._interpreter = Interpreter(model_path=str(path), num_threads=1)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelRejected(f"{path}: not a loadable TFLite model ({exc})") from exc
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelRejected(f"{path}: expected one input and one output tensor")
        self._input, self._output = inputs[0], outputs[0]
        shape = tuple(int(n) for n in self._input["shape"])
        if shape not in ((1, *FACE_SHAPE, 1), (1, *FACE_SHAPE)):
            raise ModelRejected(f"{path}: input shape {shape} is not one 48x48 grayscale face")
        out_shape = tuple(int(n) for n in self._output["shape"])
        if out_shape != (1, len(classes)):
            raise ModelRejected(
                f"{path}: output shape {out_shape} does not match {len(classes)} classes"
            )
        self._input_shape = shape
        self._lock = threading.Lock()

    def classify(self, face: np.ndarray) -> np.ndarray:
        """Probabilities (float32, one per class) for a (48, 48) uint8 grayscale face."""
        if face.shape != FACE_SHAPE or face.dtype != np.uint8:
            raise ValueError(f"expected a (48, 48) uint8 face, got {face.shape} {face.dtype}")
        with self._lock:
            self._interpreter.set_tensor(self._input["index"], self._quantise(face))
            self._interpreter.invoke()
            raw = self._interpreter.get_tensor(self._output["index"])[0]
        scale, zero_point = self._output["quantization"]
        if np.issubdtype(raw.dtype, np.integer) and scale:
            return ((raw.astype(np.float32) - zero_point) * scale).astype(np.float32)
        return raw.astype(np.float32)

    def _quantise(self, face: np.ndarray) -> np.ndarray:
        dtype = self._input["dtype"]
        scale, zero_point = self._input["quantization"]
        pixels = face.reshape(self._input_shape)
        if dtype == np.uint8 and scale in (0.0, 1.0) and zero_point == 0:
            return pixels
        if np.issubdtype(dtype, np.integer) and scale:
            info = np.iinfo(dtype)
            values = np.round(pixels.astype(np.float32) / scale + zero_point)
            return np.clip(values, info.min, info.max).astype(dtype)
        return pixels.astype(dtype)


def smoke_test(classifier: FaceClassifier, faces: np.ndarray) -> None:
    """Raises ModelRejected unless every face gets finite probabilities summing to ~1."""
    for index, face in enumerate(faces):
        try:
            probs = classifier.classify(face)
        except (ValueError, RuntimeError) as exc:
            raise ModelRejected(f"smoke test: face {index} failed to run ({exc})") from exc
        if not np.all(np.isfinite(probs)) or np.any(probs < -1e-6):
            raise ModelRejected(f"smoke test: face {index} gave invalid probabilities {probs}")
        total = float(probs.sum())
        if abs(total - 1.0) > SUM_TOLERANCE:
            raise ModelRejected(f"smoke test: face {index} probabilities sum to {total:.3f}")
