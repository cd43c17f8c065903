"""Monitoring the deployed credit model: the last window of live traffic against the
data it was trained on.

Reference: the deployed version's training snapshot (its DVC data version, from the
cache or the remote) with the deployed model's own answers on it, so band and score
drift compare like with like. Current: the monitoring rows of the window (ratios,
sector, band, score). Where outcomes were attached, realised macro-F1 and within-one-
band accuracy stand beside the version's company-grouped CV estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.credit.deploy import current_credit_deployment
from pipelines.credit.rating_bands import BAND_CODES
from pipelines.credit.schema import MODEL_COLUMNS, RATIO_COLUMNS, SECTOR
from pipelines.release.deploy import Deployment
from pipelines.release.drift_report import (
    MonitoringSummary,
    Quality,
    ReportColumns,
    decide,
    run_drift_report,
    run_quality_report,
    save_report,
)
from pipelines.release.monitoring_store import prune, window_rows
from senim.config import Params
from senim.environment import Stores
from senim.errors import RegistryError

FAMILY = "credit"
BAND = "band"
SCORE = "score"
OUTCOME = "outcome"
COLUMNS = ReportColumns(
    numerical=RATIO_COLUMNS,
    categorical=(SECTOR,),
    prediction_numerical=(SCORE,),
    prediction_categorical=(BAND,),
)
# Fewer rows than this cannot be tested for drift at all (the report says so).
MIN_TESTABLE_ROWS = 5


@dataclass(frozen=True)
class MonitoringRun:
    summary: MonitoringSummary
    directory: Path  # report.html, quality.html (with outcomes), summary.json
    deployment: Deployment


def monitor_credit_model(
    params: Params,
    stores: Stores,
    sessions,
    client,
    *,
    now: datetime | None = None,
    directory: Path,
) -> MonitoringRun:
    """Prune old rows, build the report of the current window, decide; writes the report
    to ``directory``. A RegistryError when no credit model is deployed."""
    deployment = current_credit_deployment(stores)
    if deployment is None:
        raise RegistryError(
            "no credit model is deployed, so there is nothing to monitor "
            "(`senim deploy credit` deploys the champion)"
        )
    monitoring = params.monitoring
    now = now or datetime.now(UTC)
    prune(sessions, monitoring.retention_days, now)
    start = now - timedelta(hours=monitoring.window_hours)
    current = window_rows(sessions, FAMILY, start, now)
    current = current.rename(columns={"prediction": BAND})
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
    }
    if len(current) < MIN_TESTABLE_ROWS:
        summary = MonitoringSummary(
            **base,
            reference_rows=0,
            drifted_features=[],
            feature_drift={},
            drift_share=0.0,
            prediction_drift={},
            quality=None,
            drift_detected=False,
            notes=[f"{len(current)} scored rows in the window: too few to test for drift"],
        )
        save_report([], summary, directory)
        return MonitoringRun(summary, directory, deployment)

    reference = reference_frame(deployment, params, stores, client)
    hours = monitoring.window_hours
    title = f"{deployment.mlflow_model} v{deployment.mlflow_version}: last {hours:g} h"
    snapshot, results = run_drift_report(
        reference,
        _typed(current),
        COLUMNS,
        drift_share=monitoring.drift_share,
        drift_threshold=monitoring.drift_threshold,
        title=title,
    )
    feature_drift = {column: results[column] for column in COLUMNS.features if column in results}
    drifted = [column for column, result in feature_drift.items() if result["drifted"]]
    share = len(drifted) / max(len(feature_drift), 1)
    quality, quality_snapshot = _quality(
        current, deployment, client, monitoring.min_outcomes, title
    )
    reasons, notes = decide(
        rows=len(current),
        drift_share=share,
        drifted=drifted,
        quality=quality,
        thresholds=thresholds,
    )
    summary = MonitoringSummary(
        **base,
        reference_rows=len(reference),
        drifted_features=drifted,
        feature_drift=feature_drift,
        drift_share=share,
        prediction_drift={c: results[c] for c in COLUMNS.predictions if c in results},
        quality=quality,
        drift_detected=share >= monitoring.drift_share,
        reasons=reasons,
        notes=notes,
    )
    snapshots = [snapshot] + ([quality_snapshot] if quality_snapshot is not None else [])
    save_report(snapshots, summary, directory)
    return MonitoringRun(summary, directory, deployment)


def reference_frame(deployment: Deployment, params: Params, stores: Stores, client) -> pd.DataFrame:
    """The deployed version's training snapshot (sampled to ``reference_max_rows``, seeded)
    with the model's own band and score on each row."""
    from pipelines.common.data_versioning import versioned_snapshot
    from pipelines.credit.predict import load_model, predict_frame
    from pipelines.credit.sources import read_credit_csv

    snapshot = read_credit_csv(versioned_snapshot(deployment.data_version, stores))
    limit = params.monitoring.reference_max_rows
    if len(snapshot) > limit:
        snapshot = snapshot.sample(n=limit, random_state=params.tuning.seed)
    snapshot = snapshot.reset_index(drop=True)
    loaded = load_model(client, f"models:/{deployment.mlflow_model}/{deployment.mlflow_version}")
    answers = predict_frame(loaded, snapshot[list(MODEL_COLUMNS)])
    frame = snapshot[list(COLUMNS.features)].copy()
    frame[BAND] = answers["rating_band"].to_numpy()
    frame[SCORE] = answers["score"].to_numpy()
    return _typed(frame)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for column in (*RATIO_COLUMNS, SCORE):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    for column in (SECTOR, BAND):
        frame[column] = frame[column].astype(str)
    return frame


def _quality(current: pd.DataFrame, deployment: Deployment, client, min_outcomes: int, title: str):
    """Realised quality on the rows with outcomes (None below ``min_outcomes``) and the
    Evidently classification report on them."""
    judged = current[current[OUTCOME].notna()]
    if len(judged) < min_outcomes:
        return None, None
    truth = np.array([BAND_CODES[band] for band in judged[OUTCOME]])
    answer = np.array([BAND_CODES[band] for band in judged[BAND]])
    from sklearn.metrics import f1_score

    realised = {
        "macro_f1": float(
            f1_score(
                truth, answer, average="macro", labels=np.union1d(truth, answer), zero_division=0
            )
        ),
        "within_one_band_accuracy": float((np.abs(truth - answer) <= 1).mean()),
    }
    metrics = client.get_run(deployment.run_id).data.metrics if deployment.run_id else {}
    estimated = {key: float(metrics[key]) for key in realised if key in metrics}
    drop = estimated["macro_f1"] - realised["macro_f1"] if "macro_f1" in estimated else None
    snapshot = run_quality_report(judged, OUTCOME, BAND, f"{title}: realised quality")
    return Quality(
        outcomes=len(judged), realised=realised, estimated=estimated, drop=drop
    ), snapshot
