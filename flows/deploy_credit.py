"""Prefect flow ``deploy-credit``: pin ``models:/credit-rating@<alias>`` to its version,
import it into the BentoML store and build its Bento (``pipelines.credit_deploy``), or
roll back to the previous deployment.

Same implementation as ``senim deploy credit``; the flow adds Prefect's run history and
retries on the one I/O step that may recover by itself (reaching the tracking store).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from pipelines.credit_deploy import deploy_credit, rollback_credit
from pipelines.mlflow_store import check_reachable, mlflow_client
from senim.config import load_params
from senim.environment import resolve_stores


@task(cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[2, 5, 15])
def reach_tracking_store() -> None:
    check_reachable(resolve_stores())


@task(cache_policy=NO_CACHE)
def deploy(alias: str, params_path: str | None) -> dict:
    stores = resolve_stores()
    path = Path(params_path) if params_path else stores.params_path
    name = load_params(path).registry.model_name
    return asdict(
        deploy_credit(mlflow_client(stores), stores, model_name=name, alias=alias, params_path=path)
    )


@task(cache_policy=NO_CACHE)
def rollback() -> dict:
    return asdict(rollback_credit(resolve_stores()))


@flow(name="deploy-credit", log_prints=True)
def deploy_credit_flow(
    alias: str = "champion", rollback_to_previous: bool = False, params_path: str | None = None
) -> dict:
    """The deployment record: tags, versions, lineage, and whether anything was built."""
    if rollback_to_previous:
        return rollback()
    reach_tracking_store()
    return deploy(alias, params_path)
