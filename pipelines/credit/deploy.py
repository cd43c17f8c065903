"""Deploy the credit model: ``models:/credit-rating@<alias>`` imported whole (its MLflow
model) with its lineage, served by a Bento of ``serving/credit_service.py`` (see
``pipelines.release.deploy`` for the steps both families share)."""

from __future__ import annotations

from pathlib import Path

from pipelines.release.deploy import (
    Deployment,
    ServiceFamily,
    copy_mlflow_model,
    current_deployment,
)
from senim.environment import Stores

BENTO_MODEL_NAME = "credit-rating"


def inference_labels(model_dir: Path) -> dict[str, str]:
    """The inference path the Bento will serve with, decided (and checked) at deploy."""
    import mlflow

    from pipelines.credit.inference import choose_inference, inference_mode
    from pipelines.credit.model_serialization import import_model_types

    import_model_types()
    model = mlflow.sklearn.load_model(str(model_dir / "mlflow_model"))
    return {"inference": choose_inference(model, inference_mode()).label()}


CREDIT = ServiceFamily(
    key="credit",
    bento_model_name=BENTO_MODEL_NAME,
    copy_artifacts=copy_mlflow_model,
    registered_name=lambda params: params.registry.model_name,
    bento_labels=inference_labels,
)


def current_credit_deployment(stores: Stores) -> Deployment | None:
    return current_deployment(CREDIT, stores)


__all__ = ["CREDIT", "Deployment", "current_credit_deployment"]
