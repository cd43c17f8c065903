"""Monitoring the deployed emotion model: the faces camera hosts and users sent in the
last window against the faces it was trained on.

Reference: the deployed version's training snapshot (its DVC data version), Training
images sampled to ``reference_max_rows``, with their brightness and contrast and the
deployed model's own answers (emotion, confidence; its int8 export when accepted, as the
service serves). Current: the monitoring rows of the window. Faces' size in the uploaded
images is kept and shown in the rows, but has no training counterpart (every training
face is 48x48), so it is not tested for drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.fer.deploy import EMOTION
from pipelines.fer.schema import EMOTIONS
from pipelines.release.deploy import Deployment, current_deployment
from pipelines.release.drift_report import (
    MonitoringSummary,
    ReportColumns,
    decide,
    run_drift_report,
    save_report,
)
from pipelines.release.monitoring_store import prune, window_rows
from senim.config import Params
from senim.environment import Stores
from senim.errors import DataError, RegistryError

FAMILY = "emotion"
EMOTION_COLUMN = "emotion"
CONFIDENCE = "confidence"
COLUMNS = ReportColumns(
    numerical=("brightness", "contrast"),
    categorical=(),
    prediction_numerical=(CONFIDENCE,),
    prediction_categorical=(EMOTION_COLUMN,),
)
MIN_TESTABLE_ROWS = 5
EXPORT_PREFERENCE = ("int8", "float16", None)  # None: the Keras model


@dataclass(frozen=True)
class MonitoringRun:
    summary: MonitoringSummary
    directory: Path
    deployment: Deployment


def monitor_emotion_model(
    params: Params,
    stores: Stores,
    sessions,
    client,
    *,
    now: datetime | None = None,
    directory: Path,
) -> MonitoringRun:
    """Prune old rows, report on the current window, decide; writes to ``directory``."""
    deployment = current_deployment(EMOTION, stores)
    if deployment is None:
        raise RegistryError(
            "no emotion model is deployed, so there is nothing to monitor "
            "(`senim deploy emotion` deploys the champion)"
        )
    monitoring = params.monitoring
    now = now or datetime.now(UTC)
    prune(sessions, monitoring.retention_days, now)
    start = now - timedelta(hours=monitoring.window_hours)
    current = window_rows(sessions, FAMILY, start, now)
    current = current.rename(columns={"prediction": EMOTION_COLUMN, "score": CONFIDENCE})
    thresholds = monitoring.model_dump(exclude={"retrain"})
    base = {
        "family": FAMILY,
        "model": deployment.mlflow_model,
        "version": deployment.mlflow_version,
        "data_version": deployment.data_version,
        "window_start": start.isoformat(timespec="seconds"),
        "window_end": now.isoformat(timespec="seconds"),
        "rows": len(current),
        "thresholds": thresholds,
        "quality": None,  # no realised emotion labels arrive from production
    }
    if len(current) < MIN_TESTABLE_ROWS:
        summary = MonitoringSummary(
            **base,
            reference_rows=0,
            drifted_features=[],
            feature_drift={},
            drift_share=0.0,
            prediction_drift={},
            drift_detected=False,
            notes=[f"{len(current)} faces in the window: too few to test for drift"],
        )
        save_report([], summary, directory)
        return MonitoringRun(summary, directory, deployment)

    reference = reference_frame(deployment, params, stores, client)
    hours = monitoring.window_hours
    snapshot, results = run_drift_report(
        reference,
        _typed(current),
        COLUMNS,
        drift_share=monitoring.drift_share,
        drift_threshold=monitoring.drift_threshold,
        title=f"{deployment.mlflow_model} v{deployment.mlflow_version}: last {hours:g} h",
    )
    feature_drift = {column: results[column] for column in COLUMNS.features if column in results}
    drifted = [column for column, result in feature_drift.items() if result["drifted"]]
    share = len(drifted) / max(len(feature_drift), 1)
    reasons, notes = decide(
        rows=len(current), drift_share=share, drifted=drifted, quality=None, thresholds=thresholds
    )
    notes = [note for note in notes if "outcomes" not in note]  # none are expected here
    summary = MonitoringSummary(
        **base,
        reference_rows=len(reference),
        drifted_features=drifted,
        feature_drift=feature_drift,
        drift_share=share,
        prediction_drift={c: results[c] for c in COLUMNS.predictions if c in results},
        drift_detected=share >= monitoring.drift_share,
        reasons=reasons,
        notes=notes,
    )
    save_report([snapshot], summary, directory)
    return MonitoringRun(summary, directory, deployment)


def reference_frame(deployment: Deployment, params: Params, stores: Stores, client) -> pd.DataFrame:
    """Training faces of the deployed version's snapshot (sampled, seeded): brightness,
    contrast, and the deployed model's emotion and confidence on each."""
    from pipelines.common.data_versioning import versioned_snapshot

    path = versioned_snapshot(deployment.data_version, stores)
    try:
        with np.load(path, allow_pickle=False) as archive:
            x, usage = archive["x"], archive["usage"]
    except (KeyError, ValueError, OSError) as exc:
        raise DataError(
            f"data version {deployment.data_version}: not a FER snapshot: {exc}"
        ) from None
    x = x[usage == "Training"]
    limit = params.monitoring.reference_max_rows
    if len(x) > limit:
        rng = np.random.default_rng(params.fer.training.seed)
        x = x[np.sort(rng.choice(len(x), size=limit, replace=False))]
    proba = _deployed_predictor(client, deployment)(x)
    pixels = x.reshape(len(x), -1).astype(np.float32)
    frame = pd.DataFrame(
        {
            "brightness": pixels.mean(axis=1).round(3),
            "contrast": pixels.std(axis=1).round(3),
            EMOTION_COLUMN: [EMOTIONS[i] for i in proba.argmax(axis=1)],
            CONFIDENCE: proba.max(axis=1),
        }
    )
    return _typed(frame)


def _deployed_predictor(client, deployment: Deployment):
    from pipelines.fer.predict import load_fer_predictor

    uri = f"models:/{deployment.mlflow_model}/{deployment.mlflow_version}"
    for export in EXPORT_PREFERENCE:
        try:
            return load_fer_predictor(client, uri, tflite=export).predict_proba
        except RegistryError:
            continue  # that export was not accepted: the next one
    raise RegistryError(f"{uri} has no model to score the reference with")


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for column in (*COLUMNS.numerical, CONFIDENCE):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    frame[EMOTION_COLUMN] = frame[EMOTION_COLUMN].astype(str)
    return frame
