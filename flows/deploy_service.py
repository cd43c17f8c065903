"""Prefect flows ``deploy-credit`` and ``deploy-emotion``: pin ``models:/<name>@<alias>``
to its version, import it into the BentoML store and build its Bento
(``pipelines.release.deploy``), or roll back to the previous deployment; and
``follow-registry``: one pass of the registry follower (``pipelines.release.follow``),
which deploys what ``champion`` names for every alias move not yet handled.

Same implementation as ``senim deploy credit|emotion|follow``; the flows add Prefect's
run history and retries on the one I/O step that may recover by itself (reaching the
tracking store). A follower pass that cannot deploy fails its flow run (the previous
version keeps serving), so the failure shows in the Prefect UI as well as the audit log.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from pipelines.common.mlflow_store import check_reachable, mlflow_client
from pipelines.credit.deploy import CREDIT
from pipelines.fer.deploy import EMOTION
from pipelines.release.deploy import ServiceFamily, deploy_model, rollback_model
from pipelines.release.follow import follow_now
from senim.config import load_params
from senim.environment import resolve_stores

# The families whose served alias the follower watches.
FOLLOWED: tuple[ServiceFamily, ...] = (CREDIT, EMOTION)


@task(cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[2, 5, 15])
def reach_tracking_store() -> None:
    check_reachable(resolve_stores())


@task(cache_policy=NO_CACHE)
def deploy(family: ServiceFamily, alias: str, params_path: str | None) -> dict:
    stores = resolve_stores()
    path = Path(params_path) if params_path else stores.params_path
    name = family.registered_name(load_params(path))
    client = mlflow_client(stores)
    return asdict(
        deploy_model(family, client, stores, model_name=name, alias=alias, params_path=path)
    )


@task(cache_policy=NO_CACHE)
def rollback(family: ServiceFamily) -> dict:
    return asdict(rollback_model(family, resolve_stores()))


def _run(family: ServiceFamily, alias: str, rollback_to_previous: bool, params_path) -> dict:
    if rollback_to_previous:
        return rollback(family)
    reach_tracking_store()
    return deploy(family, alias, params_path)


@flow(name="deploy-credit", log_prints=True)
def deploy_credit_flow(
    alias: str = "champion", rollback_to_previous: bool = False, params_path: str | None = None
) -> dict:
    """The deployment record: tags, versions, lineage, and whether anything was built."""
    return _run(CREDIT, alias, rollback_to_previous, params_path)


@flow(name="deploy-emotion", log_prints=True)
def deploy_emotion_flow(
    alias: str = "champion", rollback_to_previous: bool = False, params_path: str | None = None
) -> dict:
    """As ``deploy-credit``, for ``fer-emotion`` and the emotion service's Bento."""
    return _run(EMOTION, alias, rollback_to_previous, params_path)


@task(cache_policy=NO_CACHE)
def follow(params_path: str | None) -> list[dict]:
    stores = resolve_stores()
    params = load_params(Path(params_path) if params_path else stores.params_path)
    return [asdict(outcome) for outcome in follow_now(FOLLOWED, stores, params)]


@flow(name="follow-registry", log_prints=True)
def follow_registry_flow(params_path: str | None = None) -> list[dict]:
    """Deploy what ``champion`` names for every alias move not yet handled; fails (the
    previous version keeps serving) when a deployment fails."""
    return follow(params_path)
