"""Prefect flow ``monitor-credit``: report on the deployed credit model's last window of
traffic (``pipelines.credit.monitoring``) and, when the thresholds of ``params.yaml``
are passed, start ``retrain-credit`` (``flows.monitoring_run``: one in flight)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow

from flows.monitoring_run import FamilyMonitor, run_monitor, write_retraining_params
from pipelines.credit.monitoring import FAMILY, monitor_credit_model
from senim.config import Params


def _retrain(params: Params, directory: Path, reason: str):
    """``retrain-credit`` on the data source ``data`` names, as a subflow; the embedded
    synthetic source gives a fresh draw (seeded by this report, shifted by
    ``monitoring.retrain.synthetic_drift``) so the demo loop closes on a laptop."""
    from flows.retrain_credit import retrain_credit

    if params.data.source == "synthetic":
        seed = int(directory.name[:15].replace("T", "")) % 2**31
        drift = params.monitoring.retrain.synthetic_drift
        params = params.with_overrides(synthetic={"seed": seed, "drift": drift})
    path = write_retraining_params(params, directory)
    return retrain_credit(
        params_path=str(path), reports_dir=str(directory / "retraining"), reason=reason
    )


CREDIT_MONITOR = FamilyMonitor(
    family=FAMILY,
    actor="monitor-credit",
    registered_name=lambda params: params.registry.model_name,
    monitor=monitor_credit_model,
    retrain=_retrain,
)


@flow(name="monitor-credit", log_prints=True)
def monitor_credit(
    params_path: str | None = None, window_hours: float | None = None, retrain: bool = True
) -> dict[str, Any]:
    """Report on the last ``monitoring.window_hours`` (or ``window_hours``) of credit
    traffic; retrain when it triggers, unless ``retrain`` is False or
    ``monitoring.retrain.enabled`` is off."""
    return run_monitor(CREDIT_MONITOR, params_path, window_hours, retrain)
