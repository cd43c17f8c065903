"""Prefect flow ``monitor-emotion``: report on the deployed emotion model's last window
of faces (``pipelines.fer.monitoring``) and, when the thresholds of ``params.yaml`` are
passed, start ``retrain-fer`` with the configured profile (``flows.monitoring_run``: one
in flight). Emotion has no realised labels, so only drift can trigger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow

from flows.monitoring_run import FamilyMonitor, run_monitor, write_retraining_params
from pipelines.fer.monitoring import FAMILY, monitor_emotion_model
from senim.config import Params


def _retrain(params: Params, directory: Path, reason: str):
    """``retrain-fer`` on the configured FER data and profile, as a subflow."""
    from flows.retrain_fer import retrain_fer

    path = write_retraining_params(params, directory)
    return retrain_fer(
        params_path=str(path), reports_dir=str(directory / "retraining"), reason=reason
    )


EMOTION_MONITOR = FamilyMonitor(
    family=FAMILY,
    actor="monitor-emotion",
    registered_name=lambda params: params.fer.registry.model_name,
    monitor=monitor_emotion_model,
    retrain=_retrain,
)


@flow(name="monitor-emotion", log_prints=True)
def monitor_emotion(
    params_path: str | None = None, window_hours: float | None = None, retrain: bool = True
) -> dict[str, Any]:
    """Report on the last ``monitoring.window_hours`` (or ``window_hours``) of faces;
    retrain when it triggers, unless ``retrain`` is False or retraining is off."""
    return run_monitor(EMOTION_MONITOR, params_path, window_hours, retrain)
