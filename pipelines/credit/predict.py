"""Batch prediction: one output row per input row, in order, with band, probabilities,
a 0-100 score and the model version that produced it.

The score is ``100 * E[band code] / 5`` over the predicted band probabilities (see
``pipelines.credit.metrics.score_from_proba``): 0 means certainly Junk, 100 certainly A+.
The band is the model's own: an ordinal model names the band its score falls in (which
need not be the most likely one); any other model its most likely band.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.credit.inference import NATIVE, InferencePath, choose_inference, inference_mode
from pipelines.credit.metrics import score_from_proba
from pipelines.credit.rating_bands import BANDS
from senim.atomic_files import write_csv_atomically
from senim.config import ScoringParams
from senim.errors import RegistryError

# Best band first, as a credit officer reads them.
PROBABILITY_COLUMNS: tuple[str, ...] = tuple(f"p_{band}" for band in reversed(BANDS))
OUTPUT_COLUMNS: tuple[str, ...] = (
    "rating_band",
    "band_code",
    *PROBABILITY_COLUMNS,
    "score",
    "model_version",
)


@dataclass(frozen=True)
class LoadedModel:
    model: Any  # a fitted pipeline with predict_proba and classes_
    uri: str
    version: str  # registry version, or the URI when it is not a registry model
    # The compiled form the CLI and the service score with, when it passed its check.
    inference: InferencePath = NATIVE

    @classmethod
    def of(cls, model: Any, uri: str, version: str) -> LoadedModel:
        """A loaded model with its inference path chosen (and checked) once, here."""
        inference = choose_inference(model, inference_mode())
        return cls(model=model, uri=uri, version=version, inference=inference)


def transformed_inputs(model: Any, features: pd.DataFrame) -> np.ndarray:
    """What the pipeline's final estimator sees at predict time: every earlier step's
    ``transform``, resamplers skipped (SMOTE acts in training only), as imblearn does."""
    data: Any = features
    for _, step in model.steps[:-1]:
        if step is None or step == "passthrough" or hasattr(step, "fit_resample"):
            continue
        data = step.transform(data)
    return data


def band_probabilities(
    model: Any, features: pd.DataFrame, *, transformed: np.ndarray | None = None
) -> np.ndarray:
    """``(n, 6)`` probabilities by band code, whatever subset of bands the model knows.

    With ``transformed`` (``transformed_inputs(model, features)``), only the final
    estimator runs; the numbers are the pipeline's own, bit for bit.
    """
    if transformed is not None:
        return final_probabilities(model, transformed)
    return _by_band_code(model, model.predict_proba(features))


def final_probabilities(model: Any, transformed: np.ndarray) -> np.ndarray:
    """``band_probabilities`` from ``transformed_inputs``: only the final estimator runs."""
    return _by_band_code(model, model.steps[-1][1].predict_proba(transformed))


def final_predictions(
    model: Any, transformed: np.ndarray, inference: InferencePath = NATIVE
) -> tuple[np.ndarray, np.ndarray]:
    """``(probabilities by band code, band codes)`` from ``transformed_inputs``.

    A model that names its own band (``CalibratedBands``, the ordinal model) is asked for
    it; for any other the band is the most likely one, as before. A compiled
    ``inference`` path gives the same numbers (it was checked to) at a fraction of the cost.
    """
    if inference.compiled is not None:
        scores = inference.compiled.score(transformed)
        return scores.proba, scores.band_codes
    final = model.steps[-1][1]
    proba = _by_band_code(model, final.predict_proba(transformed))
    if _names_own_band(final):
        codes = np.asarray(model.classes_)[np.asarray(final.predict(transformed), dtype=int)]
        return proba, codes.astype(int)
    return proba, proba.argmax(axis=1).astype(int)


def _names_own_band(final: Any) -> bool:
    return hasattr(final, "band_signal") or hasattr(final, "calibrator_")


def _by_band_code(model: Any, raw: np.ndarray) -> np.ndarray:
    proba = np.zeros((len(raw), len(BANDS)))
    for column, code in enumerate(model.classes_):
        proba[:, int(code)] = raw[:, column]
    return proba


def predict_frame(
    loaded: LoadedModel, features: pd.DataFrame, *, transformed: np.ndarray | None = None
) -> pd.DataFrame:
    if transformed is None:
        transformed = transformed_inputs(loaded.model, features)
    predicted = PublishedPrediction.of(
        *final_predictions(loaded.model, transformed, loaded.inference)
    )
    out = pd.DataFrame(
        {
            "rating_band": [BANDS[c] for c in predicted.band_codes],
            "band_code": predicted.band_codes,
        }
    )
    for band in reversed(BANDS):
        out[f"p_{band}"] = predicted.probabilities[:, BANDS.index(band)]
    out["score"] = predicted.scores
    out["model_version"] = loaded.version
    return out.loc[:, list(OUTPUT_COLUMNS)]


def officer_rows(
    predictions: pd.DataFrame, identifiers: pd.DataFrame, scoring: ScoringParams
) -> pd.DataFrame:
    """What ``senim credit predict`` writes: the rows' identifiers (Name, Symbol where
    given), the predictions, and the decision next to the score (the service's rule)."""
    from pipelines.credit.decision import decide

    rows = pd.concat([identifiers.reset_index(drop=True), predictions.reset_index(drop=True)],
                     axis=1)  # fmt: skip
    rows.insert(
        rows.columns.get_loc("score") + 1,
        "decision",
        [decide(float(score), scoring) for score in rows["score"]],
    )
    return rows


@dataclass(frozen=True)
class PublishedPrediction:
    """The numbers a caller sees, rounded once here for the CLI and the service alike:
    probabilities to 6 decimals, scores to 2."""

    band_codes: np.ndarray  # (n,) int, the band the model names
    probabilities: np.ndarray  # (n, 6) by band code
    scores: np.ndarray  # (n,) 0-100

    @classmethod
    def of(cls, proba: np.ndarray, band_codes: np.ndarray | None = None) -> PublishedPrediction:
        """``band_codes`` default to the most likely band of each row."""
        return cls(
            band_codes=(proba.argmax(axis=1) if band_codes is None else band_codes).astype(int),
            probabilities=proba.round(6),
            scores=score_from_proba(proba).round(2),
        )


def load_model(client, model_uri: str) -> LoadedModel:
    """Load a model, pinning a ``models:/name@alias`` URI to the version it points at now."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from pipelines.credit.model_serialization import import_model_types

    import_model_types()
    uri, version = model_uri, model_uri
    if model_uri.startswith("models:/"):
        ref = model_uri.removeprefix("models:/")
        try:
            if "@" in ref:
                name, alias = ref.split("@", 1)
                mv = client.get_model_version_by_alias(name, alias)
            else:
                name, number = ref.split("/", 1)
                mv = client.get_model_version(name, number)
        except MlflowException as exc:
            raise RegistryError(
                f"no model at {model_uri}: {str(exc).splitlines()[0][:200]}"
            ) from None
        uri, version = f"models:/{mv.name}/{mv.version}", str(mv.version)
    try:
        model = mlflow.sklearn.load_model(uri)
    except (MlflowException, OSError) as exc:
        raise RegistryError(f"cannot load model {uri}: {str(exc).splitlines()[0][:200]}") from None
    return LoadedModel.of(model, uri, version)


def write_predictions(frame: pd.DataFrame, path: Path) -> Path:
    """Atomic write: an error never leaves a partial output file."""
    return write_csv_atomically(frame, path)
