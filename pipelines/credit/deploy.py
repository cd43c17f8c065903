"""Deploy the credit model: ``models:/credit-rating@<alias>`` imported whole (its MLflow
model) with its lineage, served by a Bento of ``serving/credit_service.py`` (see
``pipelines.release.deploy`` for the steps both families share)."""

from __future__ import annotations

from pipelines.release.deploy import (
    Deployment,
    ServiceFamily,
    copy_mlflow_model,
    current_deployment,
)
from senim.environment import Stores

BENTO_MODEL_NAME = "credit-rating"
CREDIT = ServiceFamily(
    key="credit",
    bento_model_name=BENTO_MODEL_NAME,
    copy_artifacts=copy_mlflow_model,
    registered_name=lambda params: params.registry.model_name,
)


def current_credit_deployment(stores: Stores) -> Deployment | None:
    return current_deployment(CREDIT, stores)


__all__ = ["CREDIT", "Deployment", "current_credit_deployment"]
