"""Batch emotion prediction: one output row per input image, in order.

The model is a registered ``fer-emotion`` version (an alias is pinned to its version
first), run as the Keras model or as one of its TFLite exports (the artifacts of the
same version); an export the gate did not accept is refused rather than used quietly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.fer.schema import EMOTIONS, IMAGE_SIZE
from senim.atomic_files import write_csv_atomically
from senim.errors import DataError, RegistryError

PROBABILITY_COLUMNS: tuple[str, ...] = tuple(f"p_{name}" for name in EMOTIONS)
OUTPUT_COLUMNS: tuple[str, ...] = ("label", "emotion", *PROBABILITY_COLUMNS, "model_version")
TFLITE_KINDS = ("float16", "int8")


@dataclass(frozen=True)
class FerPredictor:
    predict_proba: Callable[[np.ndarray], np.ndarray]
    version: str
    runtime: str  # "keras", "tflite-float16" or "tflite-int8"


def read_images_npz(path: Path) -> np.ndarray:
    """``x`` (N, 48, 48) uint8 from an .npz (labels and usage, if any, are ignored)."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "x" not in archive.files:
                raise DataError(
                    f"{path}: no array 'x' (found: {', '.join(archive.files) or 'none'})"
                )
            x = archive["x"]
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: not a readable .npz: {exc}") from None
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(
            f"{path}: 'x' must be uint8 with shape (N, {IMAGE_SIZE}, {IMAGE_SIZE}), "
            f"got {x.dtype} {x.shape}"
        )
    if len(x) == 0:
        raise DataError(f"{path}: 'x' holds no images")
    return x


def load_fer_predictor(client, model_uri: str, tflite: str | None = None) -> FerPredictor:
    import mlflow
    from mlflow.exceptions import MlflowException

    version = _resolve(client, model_uri)
    if tflite is None:
        from pipelines.fer.training import predict_proba

        try:
            model = mlflow.keras.load_model(f"models:/{version.name}/{version.version}")
        except (MlflowException, OSError) as exc:
            raise RegistryError(f"cannot load {model_uri}: {str(exc).splitlines()[0]}") from None
        return FerPredictor(lambda x: predict_proba(model, x), str(version.version), "keras")
    if tflite not in TFLITE_KINDS:
        raise DataError(f"--tflite must be one of {', '.join(TFLITE_KINDS)}, got {tflite!r}")
    tags = version.tags or {}
    if tags.get(f"export.{tflite}.accepted") != "true":
        reason = tags.get(f"export.{tflite}.reason", "no such export")
        raise RegistryError(f"version {version.version} has no accepted {tflite} export ({reason})")
    from pipelines.fer.export import TFLiteClassifier

    local = mlflow.artifacts.download_artifacts(
        run_id=version.run_id, artifact_path=tags[f"export.{tflite}.artifact"]
    )
    classifier = TFLiteClassifier(Path(local))
    return FerPredictor(classifier.predict_proba, str(version.version), f"tflite-{tflite}")


def predict_fer_frame(predictor: FerPredictor, x: np.ndarray) -> pd.DataFrame:
    proba = np.asarray(predictor.predict_proba(x), dtype=float)
    labels = proba.argmax(axis=1)
    frame = pd.DataFrame({"label": labels.astype(int), "emotion": [EMOTIONS[i] for i in labels]})
    for column, name in enumerate(PROBABILITY_COLUMNS):
        frame[name] = proba[:, column].round(6)
    frame["model_version"] = predictor.version
    return frame.loc[:, list(OUTPUT_COLUMNS)]


def write_fer_predictions(frame: pd.DataFrame, path: Path) -> Path:
    return write_csv_atomically(frame, path)


def _resolve(client, model_uri: str):
    from mlflow.exceptions import MlflowException

    if not model_uri.startswith("models:/"):
        raise DataError("--model-uri must be models:/NAME@ALIAS or models:/NAME/VERSION")
    ref = model_uri.removeprefix("models:/")
    try:
        if "@" in ref:
            name, alias = ref.split("@", 1)
            return client.get_model_version_by_alias(name, alias)
        name, number = ref.split("/", 1)
        return client.get_model_version(name, number)
    except (MlflowException, ValueError) as exc:
        raise RegistryError(f"no model at {model_uri}: {str(exc).splitlines()[0][:200]}") from None
