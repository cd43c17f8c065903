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


# MLflow 3 opens an experiment without a kind in its GenAI view (an empty Traces page).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"


def ensure_experiment(stores: Stores, name: str, description: str = "") -> str:
    """Experiment id; the embedded store keeps artifacts under SENIM_HOME, not ./mlruns.
    The experiment opens in MLflow's model-training view, with ``description`` as its note."""
    client = mlflow_client(stores)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        experiment_id = client.create_experiment(name, artifact_location=stores.artifact_root)
        tags: dict[str, str] = {}
    else:
        experiment_id, tags = experiment.experiment_id, dict(experiment.tags or {})
    if tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
        client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    if description and "mlflow.note.content" not in tags:
        client.set_experiment_tag(experiment_id, "mlflow.note.content", description)
    return experiment_id
