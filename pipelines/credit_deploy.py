"""Deploy the credit model: ``models:/credit-rating@<alias>`` imported with its lineage
and served by a Bento of ``serving/credit_service.py`` (see ``pipelines.model_deploy``)."""

from __future__ import annotations

from pathlib import Path

from pipelines.model_deploy import (
    Deployment,
    ServiceFamily,
    copy_mlflow_model,
    current_deployment,
    deploy_model,
    rollback_model,
)
from pipelines.model_deploy import serve_command as _serve_command
from senim.environment import Stores

BENTO_MODEL_NAME = "credit-rating"
CREDIT = ServiceFamily(
    key="credit", bento_model_name=BENTO_MODEL_NAME, copy_artifacts=copy_mlflow_model
)


def deploy_credit(
    client,
    stores: Stores,
    *,
    model_name: str,
    alias: str = "champion",
    params_path: Path | None = None,
) -> Deployment:
    return deploy_model(
        CREDIT, client, stores, model_name=model_name, alias=alias, params_path=params_path
    )


def rollback_credit(stores: Stores) -> Deployment:
    return rollback_model(CREDIT, stores)


def current_credit_deployment(stores: Stores) -> Deployment | None:
    return current_deployment(CREDIT, stores)


def serve_command(stores: Stores, *, host: str, port: int) -> tuple[list[str], dict[str, str]]:
    return _serve_command(CREDIT, stores, host=host, port=port)


__all__ = [
    "CREDIT",
    "Deployment",
    "current_credit_deployment",
    "deploy_credit",
    "rollback_credit",
    "serve_command",
]
