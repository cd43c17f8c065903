"""Deploy step for any served model family: pin ``models:/<name>@<alias>`` to a version
and import it into the BentoML model store, with its lineage as labels.

Redeploying the version that is already current is a no-op; deploying a new one keeps
the previous import and its Bento and records the order, so ``rollback`` returns to
them. Each deployment builds (once) a Bento of the family's service pinned to its model
(``pipelines.release.bento_build``). A ``ServiceFamily`` says what differs: the state file, the
BentoML model name, the bentofile and which artifacts of the version are imported.
BentoML's stores live under SENIM_HOME (``bentoml/``), never in the user's home.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from pipelines.release.bento_build import BENTOFILE, build_pinned_bento
from senim.environment import Stores
from senim.errors import ConfigError, RegistryError

# copy(client, mlflow model version, deployment, destination folder): the files served
CopyArtifacts = Callable[[Any, Any, "Deployment", Path], None]
# labels(imported model folder): what the family adds to its Bento's labels
BentoLabels = Callable[[Path], dict[str, str]]


def no_labels(model_dir: Path) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class ServiceFamily:
    key: str  # "credit", "emotion": the CLI's name and deployments/<key>.json
    bento_model_name: str  # BentoML model name, e.g. credit-rating
    copy_artifacts: CopyArtifacts
    registered_name: Callable[[Any], str]  # params -> the registered model's name
    bentofile: str = BENTOFILE
    bento_labels: BentoLabels = no_labels


@dataclass(frozen=True)
class Deployment:
    tag: str  # BentoML model tag, e.g. credit-rating:mlflow-v3
    mlflow_model: str
    mlflow_version: str
    run_id: str
    data_version: str
    git_commit: str
    alias: str | None
    created: bool  # False when this exact version was already imported
    bento_tag: str | None = None  # the Bento that serves it (None: deployed before Bentos)
    bento_built: bool = False  # True when this call built that Bento
    labels: dict[str, str] | None = None  # what the family added to the Bento's labels


def deployment_record_path(stores: Stores, family: ServiceFamily) -> Path:
    """``SENIM_HOME/deployments/<family>.json``: what the family's services serve
    (``current``, and ``shadow`` while a challenger shadows it); running services follow it."""
    return stores.home / "deployments" / f"{family.key}.json"


def model_store(stores: Stores):
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    from pipelines.release.bento_build import use_senim_stores

    return use_senim_stores(stores)[0]


def _read_state(stores: Stores, family: ServiceFamily) -> dict:
    path = deployment_record_path(stores, family)
    if not path.is_file():
        return {"current": None, "history": []}
    return json.loads(path.read_text())


def _write_state(stores: Stores, family: ServiceFamily, state: dict) -> None:
    from senim.atomic_files import write_text_atomically

    write_text_atomically(
        deployment_record_path(stores, family), json.dumps(state, indent=2, sort_keys=True)
    )


def deploy_model(
    family: ServiceFamily,
    client,
    stores: Stores,
    *,
    model_name: str,
    alias: str = "champion",
    params_path: Path | None = None,
) -> Deployment:
    """Resolve the alias now, import that exact version (once), build its Bento (once,
    with ``params_path``, default the workspace's params.yaml) and make it current."""
    deployment, store = _import_version(family, client, stores, model_name, alias)
    tag = deployment.tag
    extra = family.bento_labels(Path(store.get(tag).path))
    deployment = replace(deployment, labels=extra or None)
    bento = build_pinned_bento(
        stores,
        tag,
        deployment.mlflow_version,
        params_path=params_path or stores.params_path,
        bentofile=family.bentofile,
        labels={
            "mlflow_model": deployment.mlflow_model,
            "mlflow_version": deployment.mlflow_version,
            "data_version": deployment.data_version,
            **extra,
        },
    )
    deployment = replace(deployment, bento_tag=bento.tag, bento_built=bento.created)
    state = _read_state(stores, family)
    recorded = state.get("deployments", {}).get(tag, {})
    shadowed = state.get("shadow") == tag  # the challenger went live: shadowing it ends
    if state["current"] != tag or recorded.get("bento_tag") != bento.tag or shadowed:
        state["history"] = [t for t in state["history"] if t != tag] + [tag]
        state["current"] = tag
        state["deployments"] = {**state.get("deployments", {}), tag: _record(deployment)}
        if shadowed:
            del state["shadow"]
        _write_state(stores, family, state)
    return deployment


def _import_version(
    family: ServiceFamily, client, stores: Stores, model_name: str, alias: str
) -> tuple[Deployment, Any]:
    """The version ``alias`` names now, imported into the BentoML model store (once)."""
    from mlflow.exceptions import MlflowException

    try:
        version = client.get_model_version_by_alias(model_name, alias)
    except MlflowException as exc:
        raise RegistryError(
            f"cannot resolve models:/{model_name}@{alias}: {str(exc).splitlines()[0][:200]}"
        ) from None
    tags = version.tags or {}
    tag = f"{family.bento_model_name}:mlflow-v{version.version}"
    deployment = Deployment(
        tag=tag,
        mlflow_model=model_name,
        mlflow_version=str(version.version),
        run_id=version.run_id or "",
        data_version=tags.get("data_version", "unknown"),
        git_commit=tags.get("git_commit", "unknown"),
        alias=alias,
        created=False,
    )
    store = model_store(stores)
    if not _imported(store, tag):
        _import(store, client, version, deployment, family.copy_artifacts)
        deployment = replace(deployment, created=True)
    return deployment, store


def deploy_shadow(
    family: ServiceFamily, client, stores: Stores, *, model_name: str, alias: str = "challenger"
) -> Deployment:
    """Import the version ``alias`` names and record it as the family's ``shadow``: running
    services score live traffic with it too, off the request path, and never answer with
    it. The current deployment is unchanged."""
    state = _read_state(stores, family)
    if state["current"] is None:
        raise RegistryError(
            f"no {family.key} model is deployed: a shadow needs a live model beside it "
            f"(run `senim deploy {family.key}` first)"
        )
    deployment, _ = _import_version(family, client, stores, model_name, alias)
    if deployment.tag == state["current"]:
        raise RegistryError(
            f"{model_name}@{alias} is version {deployment.mlflow_version}, the version already "
            "serving: a shadow must be another version"
        )
    state["shadow"] = deployment.tag
    known = state.get("deployments", {})
    state["deployments"] = {
        **known,
        deployment.tag: {**_record(deployment), **known.get(deployment.tag, {})},
    }
    _write_state(stores, family, state)
    return deployment


def end_shadow(family: ServiceFamily, stores: Stores) -> Deployment | None:
    """Stop shadowing: the record names no shadow (running services drop it). Returns the
    deployment that was the shadow, or None when there was none."""
    state = _read_state(stores, family)
    tag = state.pop("shadow", None)
    if tag is None:
        return None
    _write_state(stores, family, state)
    return Deployment(**state["deployments"][tag])


def shadow_deployment(family: ServiceFamily, stores: Stores) -> Deployment | None:
    state = _read_state(stores, family)
    tag = state.get("shadow")
    return None if tag is None else Deployment(**state["deployments"][tag])


def _record(deployment: Deployment) -> dict:
    """What the state file keeps: the deployment, without this call's created flags."""
    return {**asdict(deployment), "created": False, "bento_built": False}


def rollback_model(family: ServiceFamily, stores: Stores) -> Deployment:
    """Make the previously deployed version current again (its import is still there)."""
    state = _read_state(stores, family)
    history = state["history"]
    if state["current"] is None or len(history) < 2:
        raise RegistryError(f"nothing to roll back to: fewer than two {family.key} deployments")
    history.remove(state["current"])
    state["current"] = history[-1]
    if state.get("shadow") == state["current"]:
        del state["shadow"]  # the shadow went live: shadowing it ends
    _write_state(stores, family, state)
    return Deployment(**state["deployments"][state["current"]])


def current_deployment(family: ServiceFamily, stores: Stores) -> Deployment | None:
    state = _read_state(stores, family)
    if state["current"] is None:
        return None
    return Deployment(**state["deployments"][state["current"]])


def _imported(store, tag: str) -> bool:
    from bentoml.exceptions import NotFound

    try:
        store.get(tag)
    except NotFound:
        return False
    return True


def _import(store, client, version, deployment: Deployment, copy: CopyArtifacts) -> None:
    import bentoml

    from pipelines.common.metric_values import finite_metrics

    labels = {
        "mlflow_model": deployment.mlflow_model,
        "mlflow_version": deployment.mlflow_version,
        "run_id": deployment.run_id,
        "data_version": deployment.data_version,
        "git_commit": deployment.git_commit[:63],
        "alias": deployment.alias or "",  # the alias it was first deployed from
    }
    run_metrics = client.get_run(deployment.run_id).data.metrics if deployment.run_id else {}
    metrics = finite_metrics(run_metrics)
    with bentoml.models.create(
        deployment.tag,
        labels=labels,
        metadata={"tags": dict(version.tags or {}), "metrics": metrics},
        _model_store=store,
    ) as model:
        copy(client, version, deployment, Path(model.path))


def copy_mlflow_model(client, version, deployment: Deployment, destination: Path) -> None:
    """The registered MLflow model, whole, as ``mlflow_model/`` (the credit service's)."""
    import mlflow

    with tempfile.TemporaryDirectory(prefix="senim-deploy-") as tmp:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{deployment.mlflow_model}/{deployment.mlflow_version}",
            dst_path=tmp,
            tracking_uri=client.tracking_uri if hasattr(client, "tracking_uri") else None,
        )
        shutil.copytree(local, destination / "mlflow_model")


def resolve_served_tag(
    family: ServiceFamily, stores: Stores, env_var: str, env: dict | None = None
) -> str:
    """The model tag a service process serves, first match wins: the Bento's build
    argument ``model_tag`` (a Bento serves the model it was built with), ``env_var``, or
    the family's current deployment (serving from source)."""
    import bentoml

    from pipelines.release.bento_build import MODEL_TAG_ARGUMENT

    env = os.environ if env is None else env
    pinned = getattr(bentoml.use_arguments(), MODEL_TAG_ARGUMENT, None)
    if pinned:
        return str(pinned)
    if env.get(env_var):
        return env[env_var]
    current = current_deployment(family, stores)
    if current is None:
        raise RegistryError(
            f"no {family.key} model is deployed: run `senim deploy {family.key}` first "
            f"(or set {env_var})"
        )
    return current.tag


def serve_command(
    family: ServiceFamily,
    stores: Stores,
    *,
    host: str,
    port: int,
    ssl_certfile: Path | None = None,
    ssl_keyfile: Path | None = None,
    workers: int = 1,
) -> tuple[list[str], dict[str, str]]:
    """The ``bentoml serve`` command line and environment for the family's current Bento
    (with TLS when both ``ssl_certfile`` and ``ssl_keyfile`` are given), with ``workers``
    serving processes (``SENIM_SERVING_WORKERS``, read by the service definition; with
    more than one, rate limits move to the platform database: ``auth.rate_limit_store``)."""
    import sys

    from pipelines.release.bento_build import bentoml_home
    from senim.environment import MAX_SERVING_WORKERS, SERVING_WORKERS_ENV

    current = current_deployment(family, stores)
    if current is None or not current.bento_tag:
        raise RegistryError(
            f"no {family.key} Bento is deployed: run `senim deploy {family.key}` first"
        )
    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise ConfigError("TLS needs both --ssl-certfile and --ssl-keyfile")
    if not 1 <= workers <= MAX_SERVING_WORKERS:
        raise ConfigError(f"--workers must be 1 to {MAX_SERVING_WORKERS}, got {workers}")
    for path in (ssl_certfile, ssl_keyfile):
        if path is not None and not path.is_file():
            raise ConfigError(f"{path}: not found (a TLS certificate or key file)")
    env = {
        **os.environ,
        # Absolute: BentoML runs the service from inside the Bento, where a relative
        # default (./.senim) would name another, empty home.
        "SENIM_HOME": str(stores.home),
        "SENIM_WORKSPACE": str(stores.workspace),
        "BENTOML_HOME": str(bentoml_home(stores)),
        "BENTOML_DO_NOT_TRACK": "true",
        # uvicorn would otherwise believe X-Forwarded-For from any loopback peer; the auth
        # layer alone decides whom to believe, from SENIM_TRUSTED_PROXIES.
        "FORWARDED_ALLOW_IPS": "",
        SERVING_WORKERS_ENV: str(workers),
    }
    # One OpenMP thread per worker: on a one-row request XGBoost's idle OpenMP threads
    # spin and burn a second core for nothing (measured: CPU time 2x wall time).
    # Scale with workers instead. An explicit setting wins. (TFLite sets its own.)
    env.setdefault("OMP_NUM_THREADS", "1")
    command = [sys.executable, "-m", "bentoml", "serve", current.bento_tag]
    command += ["--host", host, "--port", str(port)]
    if ssl_certfile is not None and ssl_keyfile is not None:
        command += ["--ssl-certfile", str(ssl_certfile), "--ssl-keyfile", str(ssl_keyfile)]
    return command, env
