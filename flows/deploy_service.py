"""Prefect flows ``deploy-credit`` and ``deploy-emotion``: pin ``models:/<name>@<alias>``
to its version, import it into the BentoML store and build its Bento
(``pipelines.release.deploy``), or roll back to the previous deployment.

Same implementation as ``senim deploy credit|emotion``; the flows add Prefect's run
history and retries on the one I/O step that may recover by itself (reaching the
tracking store).
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
from senim.config import load_params
from senim.environment import resolve_stores


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
