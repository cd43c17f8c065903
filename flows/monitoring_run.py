"""What both monitor flows do around their family's report: write it under
``SENIM_HOME/monitoring/<family>/<stamp>/``, log it to the deployed version's MLflow run,
make it the latest, audit it, and start the family's retraining when a threshold is
passed, only while holding the family's lease (one retraining in flight, across processes
and machines sharing the platform database; the retrain flows take it themselves), and
not again within ``monitoring.cooldown_hours``. Why a retraining started (reasons,
thresholds, window, report) is tagged on its run and version and written to the audit log.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipelines.common.mlflow_store import mlflow_client
from pipelines.release.drift_report import point_latest, publish_report, report_directory
from pipelines.release.monitoring_audit import audit_monitoring, last_triggered_retraining
from pipelines.release.monitoring_store import (
    RetrainingInFlight,
    close_monitoring,
    open_monitoring,
)
from senim.config import Params, load_params
from senim.environment import Stores, resolve_stores
from senim.progress import reporter


@dataclass(frozen=True)
class FamilyMonitor:
    """One family's part: its report (``monitor``) and its retraining (``retrain``)."""

    family: str
    actor: str  # the flow's name: the audit log's actor and the runs' trigger tag
    registered_name: Callable[[Params], str]
    monitor: Callable[..., Any]  # (params, stores, sessions, client, now=, directory=) -> run
    retrain: Callable[[Params, Path, str], Any]  # (params, directory, reason) -> its summary


def run_monitor(
    spec: FamilyMonitor,
    params_path: str | None,
    window_hours: float | None,
    retrain: bool,
) -> dict[str, Any]:
    stores = resolve_stores()
    params = load_params(params_path or stores.params_path)
    if window_hours is not None:
        params = params.with_overrides(monitoring={"window_hours": window_hours})
    say = reporter().stage
    now = datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    directory = report_directory(stores.home, spec.family, stamp)
    client = mlflow_client(stores)
    sessions = open_monitoring(stores.database_url)
    try:
        run = spec.monitor(params, stores, sessions, client, now=now, directory=directory)
        summary = run.summary
        artifact_uri = None
        if run.deployment.run_id:
            artifact_uri = publish_report(client, run.deployment.run_id, directory, stamp, summary)
        point_latest(stores.home, spec.family, stamp, artifact_uri)
        say(summary.describe())
        html = directory / "report.html"
        say(f"report: {html}" if html.is_file() else f"summary: {directory / 'summary.json'}")
        audit_monitoring(
            sessions,
            spec.actor,
            "monitoring.report",
            summary,
            {"report": str(directory), "artifact_uri": artifact_uri},
        )
        retraining = _maybe_retrain(spec, params, stores, sessions, summary, directory, retrain)
        return {
            "summary": asdict(summary),
            "report": str(directory),
            "artifact_uri": artifact_uri,
            "retraining": retraining,
        }
    finally:
        close_monitoring(sessions)


def _maybe_retrain(
    spec: FamilyMonitor, params: Params, stores: Stores, sessions, summary, directory: Path,
    retrain: bool,
) -> dict[str, Any]:  # fmt: skip
    say = reporter().stage
    if not summary.triggers:
        return {"started": False, "why": "no threshold passed"}
    if not (retrain and params.monitoring.retrain.enabled):
        say("thresholds passed, but retraining is off (monitoring.retrain.enabled)")
        return {"started": False, "why": "retraining is off"}
    cooldown = params.monitoring.cooldown_hours
    last = last_triggered_retraining(sessions, summary.model)
    if last is not None and datetime.now(UTC) - last < timedelta(hours=cooldown):
        why = (
            f"a monitor retrained {summary.model} at {last.isoformat(timespec='seconds')}, "
            f"within monitoring.cooldown_hours ({cooldown:g} h): its challenger is what to review"
        )
        say(f"not retraining: {why}")
        return {"started": False, "why": why}
    reason = "; ".join(summary.reasons)
    trigger = {
        "report": str(directory),
        "window": f"{summary.window_start} to {summary.window_end}",
        "reasons": summary.reasons,
        "thresholds": summary.thresholds,
    }
    say(f"starting the {spec.family} retraining: {reason}")
    try:
        # The retrain flow takes the family's lease itself: one in flight, whoever started it.
        result = spec.retrain(params, directory, f"{spec.actor}: {reason}")
    except RetrainingInFlight as busy:
        say(f"not retraining: {busy}")
        audit_monitoring(
            sessions, spec.actor, "monitoring.retrain", summary, {**trigger, "skipped": str(busy)},
            outcome="denied",
        )  # fmt: skip
        return {"started": False, "why": str(busy)}
    except Exception as exc:
        audit_monitoring(
            sessions, spec.actor, "monitoring.retrain", summary,
            {**trigger, "error": f"{type(exc).__name__}: {exc}"[:2000]}, outcome="failure",
        )  # fmt: skip
        raise
    _tag_new_run(stores, spec, spec.registered_name(params), result, trigger)
    started = {
        "started": True,
        "registered_version": result.registered_version,
        "decision": result.decision,
        "run_id": _run_id(result),
    }
    audit_monitoring(sessions, spec.actor, "monitoring.retrain", summary, {**trigger, **started})
    return {**started, **trigger}


def write_retraining_params(params: Params, directory: Path) -> Path:
    """The params a triggered retraining runs with, kept beside the report that started it."""
    import yaml

    path = directory / "retrain-params.yaml"
    path.write_text(yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False))
    return path


def _tag_new_run(stores: Stores, spec: FamilyMonitor, model: str, result, trigger: dict) -> None:
    """Why this retraining ran, on its MLflow run and on the version it registered."""
    from pipelines.release.registry import UNCHANGED

    client = mlflow_client(stores)
    tags = {
        "senim.trigger": spec.actor,
        "senim.trigger.reasons": " | ".join(trigger["reasons"])[:5000],
        "senim.trigger.window": trigger["window"],
        "senim.trigger.report": trigger["report"],
        "senim.trigger.thresholds": json.dumps(trigger["thresholds"], sort_keys=True)[:5000],
    }
    for key, value in tags.items():
        client.set_tag(_run_id(result), key, value)
        if result.decision != UNCHANGED:
            client.set_model_version_tag(model, result.registered_version, key, value)


def _run_id(result: Any) -> str:
    """The retraining's MLflow run: credit's parent run, or the FER training run."""
    return getattr(result, "parent_run_id", None) or result.run_id
