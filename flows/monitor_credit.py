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


def _retrain(params: Params, directory: Path):
    """``retrain-credit`` on the data ``monitoring.retrain.data`` names, as a subflow."""
    from flows.retrain_credit import retrain_credit

    chosen = params.monitoring.retrain
    if chosen.data == "synthetic":
        # A fresh draw, seeded by this report, shifted as the world is assumed to have.
        seed = int(directory.name[:15].replace("T", "")) % 2**31
        params = params.with_overrides(
            data={"source": "synthetic"},
            synthetic={"seed": seed, "drift": chosen.synthetic_drift},
        )
    path = write_retraining_params(params, directory)
    return retrain_credit(params_path=str(path), reports_dir=str(directory / "retraining"))


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
