"""Connect to the MLflow tracking store and fail fast, with one line, when it is down."""

from __future__ import annotations

import os

from senim.environment import Stores, redact_url
from senim.errors import StoreUnreachableError


def mlflow_client(stores: Stores):
    """A client bound to the configured store (also set as MLflow's global URI)."""
    import mlflow
    from mlflow.tracking import MlflowClient

    # A retraining must not hang for minutes on a dead server: retry briefly.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    if stores.artifact_root:
        stores.home.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(stores.tracking_uri)
    mlflow.set_registry_uri(stores.tracking_uri)
    return MlflowClient(tracking_uri=stores.tracking_uri, registry_uri=stores.tracking_uri)


def check_reachable(stores: Stores) -> None:
    client = mlflow_client(stores)
    try:
        client.search_experiments(max_results=1)
    except Exception as exc:
        raise StoreUnreachableError(
            f"MLflow tracking store {redact_url(stores.tracking_uri)} is unreachable: "
            f"{str(exc).splitlines()[0][:200]}"
        ) from exc


def ensure_experiment(stores: Stores, name: str) -> str:
    """Experiment id; the embedded store keeps artifacts under SENIM_HOME, not ./mlruns."""
    client = mlflow_client(stores)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=stores.artifact_root)
