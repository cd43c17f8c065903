"""A flow run whose worker dies is marked Crashed, not left Running for ever.

When a worker's host crashes (or the worker and its flow-run process are killed), nobody
is left to report the run's end, and the Prefect server shows it Running. Prefect's
answer, used here as documented ("detect zombie flows"): every flow run sends a
``prefect.flow-run.heartbeat`` event every ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` seconds,
and a proactive automation marks a run Crashed when neither a heartbeat nor a final
state arrives ``missed_heartbeats`` intervals after the last heartbeat.

Both halves come from ``orchestration`` in params.yaml: prefect.yaml gives every Senim
deployment the heartbeat frequency as a job variable, ``senim prefect setup`` installs
the automation (scoped to runs tagged ``senim``, so other teams' flows on the same server,
with other heartbeat settings, are never touched) and refuses a prefect.yaml whose
deployments beat at another rate than the automation expects.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from senim.errors import ConfigError

AUTOMATION_NAME = "senim: crash flow runs that stopped sending heartbeats"
HEARTBEAT_ENV = "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"
RUN_TAG = "senim"  # every deployment in prefect.yaml carries it
WORK_POOL = "senim-process"
FINAL_EVENTS = (
    "prefect.flow-run.Completed",
    "prefect.flow-run.Failed",
    "prefect.flow-run.Cancelled",
    "prefect.flow-run.Crashed",
)


def crash_automation(heartbeat_seconds: int, missed_heartbeats: int) -> Any:
    """The proactive automation, as Prefect's own guide writes it, scoped to Senim's runs."""
    from prefect.automations import AutomationCore
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    window = timedelta(seconds=heartbeat_seconds * missed_heartbeats)  # after the last beat
    return AutomationCore(
        name=AUTOMATION_NAME,
        description=(
            f"Senim flow runs send a heartbeat every {heartbeat_seconds} s; a run silent for "
            f"{int(window.total_seconds())} s ({missed_heartbeats} missed) lost its worker."
        ),
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *FINAL_EVENTS},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            match_related=ResourceSpecification(
                {"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{RUN_TAG}"}
            ),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=window,
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=(
                    f"no heartbeat for {int(window.total_seconds())} s: the worker or its host "
                    "stopped (marked by Senim's crash automation)"
                ),
            )
        ],
    )


def deployment_heartbeats(prefect_yaml: Path) -> dict[str, str | None]:
    """Each deployment of ``prefect_yaml`` and the heartbeat frequency its job variables set
    (None where unset: Prefect's default, which the automation does not know)."""
    try:
        document = yaml.safe_load(prefect_yaml.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"{prefect_yaml}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{prefect_yaml}: not valid YAML ({exc})") from None
    heartbeats: dict[str, str | None] = {}
    for deployment in document.get("deployments") or []:
        job_variables = (deployment.get("work_pool") or {}).get("job_variables") or {}
        value = (job_variables.get("env") or {}).get(HEARTBEAT_ENV)
        heartbeats[str(deployment.get("name"))] = None if value is None else str(value)
    return heartbeats


def check_deployment_heartbeats(prefect_yaml: Path, heartbeat_seconds: int) -> None:
    """Refuse a prefect.yaml whose deployments beat at another rate than params.yaml says:
    a slower beat than the automation expects would crash healthy runs."""
    wrong = {
        name: value
        for name, value in deployment_heartbeats(prefect_yaml).items()
        if value != str(heartbeat_seconds)
    }
    if wrong:
        shown = ", ".join(f"{name} ({value or 'unset'})" for name, value in sorted(wrong.items()))
        raise ConfigError(
            f"{prefect_yaml}: orchestration.heartbeat_seconds is {heartbeat_seconds}, but "
            f"these deployments set {HEARTBEAT_ENV} otherwise: {shown}; set it to "
            f'"{heartbeat_seconds}" in their work_pool.job_variables.env'
        )


async def install_crash_automation(automation: Any) -> str:
    """Create the automation, or update the one of the same name: ``created`` | ``updated``."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        existing = await client.read_automations_by_name(automation.name)
        if existing:
            await client.update_automation(existing[0].id, automation)
            for duplicate in existing[1:]:
                await client.delete_automation(duplicate.id)
            return "updated"
        await client.create_automation(automation)
        return "created"


async def ensure_work_pool(name: str = WORK_POOL) -> bool:
    """Create the process work pool the deployments name; False when it already exists."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    async with get_client() as client:
        try:
            await client.read_work_pool(name)
            return False
        except ObjectNotFound:
            pass
        await client.create_work_pool(
            WorkPoolCreate(
                name=name,
                type="process",
                base_job_template=ProcessWorker.get_default_base_job_template(),
            )
        )
        return True
