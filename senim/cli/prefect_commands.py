"""``senim prefect setup``: what a Prefect server needs before Senim's deployments run on
its workers (the ``senim-process`` work pool, and the automation that marks a run Crashed
when its worker dies)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from senim.errors import ConfigError

prefect_app = typer.Typer(
    help="A Prefect server for Senim's deployments: work pool and crash detection.",
    no_args_is_help=True,
)
out = Console(soft_wrap=True)


def _api_url() -> str:
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    if not url:
        raise ConfigError(
            "PREFECT_API_URL is not set: `senim prefect setup` configures a running Prefect "
            "server (e.g. export PREFECT_API_URL=http://prefect:4200/api); "
            "`senim run` needs none"
        )
    return str(url)


@prefect_app.command("setup")
def setup(
    params: Annotated[
        Path | None,
        typer.Option("--params", help="params.yaml to use (default: the workspace's params.yaml)."),
    ] = None,
    prefect_yaml: Annotated[
        Path | None,
        typer.Option("--prefect-yaml", help="The deployments to check (default: the workspace's)."),
    ] = None,
) -> None:
    """Create the `senim-process` work pool (when missing) and install, or update, the
    automation that marks a Senim flow run Crashed after `orchestration.missed_heartbeats`
    heartbeats of silence (a dead worker or host), after checking that prefect.yaml's
    deployments beat every `orchestration.heartbeat_seconds`. Safe to run again."""
    from flows.crash_detection import (
        WORK_POOL,
        check_deployment_heartbeats,
        crash_automation,
        ensure_work_pool,
        install_crash_automation,
    )
    from senim.config import load_params
    from senim.environment import resolve_stores

    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    stores = resolve_stores()
    orchestration = load_params(params or stores.params_path).orchestration
    check_deployment_heartbeats(
        prefect_yaml or stores.workspace / "prefect.yaml", orchestration.heartbeat_seconds
    )
    url = _api_url()
    automation = crash_automation(orchestration.heartbeat_seconds, orchestration.missed_heartbeats)

    import httpx

    async def apply() -> tuple[bool, str]:
        return await ensure_work_pool(), await install_crash_automation(automation)

    try:
        pool_created, automation_outcome = asyncio.run(apply())
    except (httpx.HTTPError, OSError) as exc:  # unreachable or refusing: say which, briefly
        raise ConfigError(f"the Prefect server at {url} refused the setup: {exc}") from None
    window = int(automation.trigger.within.total_seconds())
    out.print(f"work pool {WORK_POOL}: {'created' if pool_created else 'exists'}", markup=False)
    out.print(
        f"crash automation {automation_outcome}: a run tagged senim silent for {window} s "
        f"({orchestration.missed_heartbeats} heartbeats of {orchestration.heartbeat_seconds} s) "
        "is marked Crashed",
        markup=False,
    )
