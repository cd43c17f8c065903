"""Monitoring the deployed credit model: the last window of live traffic against the
data it was trained on.

Reference: the deployed version's training snapshot (its DVC data version, from the
cache or the remote) with the deployed model's own answers on it, so band and score
drift compare like with like. Current: the monitoring rows of the window (ratios,
sector, band, score). Where outcomes were attached, realised macro-F1 and within-one-
band accuracy stand beside the version's company-grouped CV estimate.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.credit.deploy import CREDIT
from pipelines.credit.rating_bands import BAND_CODES
from pipelines.credit.schema import MODEL_COLUMNS, RATIO_COLUMNS, SECTOR
from pipelines.release.deploy import Deployment
from pipelines.release.drift_report import (
    MIN_TESTABLE_ROWS,
    MonitoringRun,
    Quality,
    ReportColumns,
    deployed_for_monitoring,
    judged_summary,
    open_window,
    run_drift_report,
    run_quality_report,
    save_report,
    untested_run,
)
from pipelines.release.monitoring_store import rows_with_outcomes
from senim.config import Params
from senim.environment import Stores

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
    deployment = deployed_for_monitoring(CREDIT, stores)
    monitoring = params.monitoring
    window = open_window(FAMILY, deployment, sessions, monitoring, now or datetime.now(UTC))
    current = window.rows.rename(columns={"prediction": BAND})
    if len(current) < MIN_TESTABLE_ROWS:
        return untested_run(window, deployment, "scored rows", directory)

    reference = reference_frame(deployment, params, stores, client)
    snapshot, results = run_drift_report(
        reference,
        _typed(current),
        COLUMNS,
        drift_share=monitoring.drift_share,
        drift_threshold=monitoring.drift_threshold,
        title=window.title,
    )
    quality, quality_snapshot = _quality(
        sessions, deployment, client, monitoring.min_outcomes, monitoring.max_quality_drop,
        window.title,
    )  # fmt: skip
    summary = judged_summary(
        window, results, COLUMNS, reference_rows=len(reference), quality=quality,
        expects_outcomes=True,
    )  # fmt: skip
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


def _quality(
    sessions, deployment: Deployment, client, min_outcomes: int, max_drop: float, title: str
):
    """Realised quality of the deployed version on every kept row with an outcome, scored
    in this window or before it (None below ``min_outcomes``), and the Evidently
    classification report on them."""
    judged = rows_with_outcomes(sessions, FAMILY, deployment.mlflow_version)
    judged = judged.rename(columns={"prediction": BAND})
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
    floor = estimated["macro_f1"] - max_drop if "macro_f1" in estimated else None
    snapshot = run_quality_report(judged, OUTCOME, BAND, f"{title}: realised quality", floor)
    return Quality(
        outcomes=len(judged), realised=realised, estimated=estimated, drop=drop
    ), snapshot
