"""Monitoring the deployed emotion model: the faces the emotion service classified in the
last window against the faces it was trained on. (Camera hosts classify on their own
hardware and send only events, so their faces are not in this window.)

Reference: the deployed version's training snapshot (its DVC data version), Training
images sampled to ``reference_max_rows``, with their brightness and contrast and the
deployed model's own answers (emotion, confidence) from the export the service runs
(``emotion_service.runtime``). Current: the monitoring rows of the window. Faces' size in
the uploaded images is kept, but has no training counterpart (every training face is
48x48), so it is not tested for drift.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.fer.deploy import EMOTION
from pipelines.fer.schema import EMOTIONS
from pipelines.release.deploy import Deployment
from pipelines.release.drift_report import (
    MIN_TESTABLE_ROWS,
    MonitoringRun,
    ReportColumns,
    deployed_for_monitoring,
    judged_summary,
    open_window,
    run_drift_report,
    save_report,
    untested_run,
)
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
    deployment = deployed_for_monitoring(EMOTION, stores)
    monitoring = params.monitoring
    window = open_window(FAMILY, deployment, sessions, monitoring, now or datetime.now(UTC))
    current = window.rows.rename(columns={"prediction": EMOTION_COLUMN, "score": CONFIDENCE})
    if len(current) < MIN_TESTABLE_ROWS:
        return untested_run(window, deployment, "faces", directory)

    reference = reference_frame(deployment, params, stores, client)
    snapshot, results = run_drift_report(
        reference,
        _typed(current),
        COLUMNS,
        drift_share=monitoring.drift_share,
        drift_threshold=monitoring.drift_threshold,
        title=window.title,
    )
    # No realised emotion labels arrive from production: drift alone can trigger.
    summary = judged_summary(
        window, results, COLUMNS, reference_rows=len(reference), quality=None,
        expects_outcomes=False,
    )  # fmt: skip
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
    proba = _deployed_predictor(client, deployment, params.emotion_service.runtime)(x)
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


def _deployed_predictor(client, deployment: Deployment, served: str):
    """The export the service runs; the other export, then Keras, if that one was not
    accepted (the service would not be serving this version then, but a report still can)."""
    from pipelines.fer.predict import load_fer_predictor

    uri = f"models:/{deployment.mlflow_model}/{deployment.mlflow_version}"
    others = [kind for kind in ("float16", "int8") if kind != served]
    for export in (served, *others, None):
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
