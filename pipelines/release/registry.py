"""The model registry as both families use it: aliases, and versions created whole.

Registry stages are deprecated in MLflow; Senim uses aliases: ``challenger`` for the
newest registered candidate, ``champion`` for the model production serves. A version is
created with all of its lineage tags in one call and removed again if pointing
``challenger`` at it fails, so no half-registered version is left behind.
"""

from __future__ import annotations

from dataclasses import dataclass

CHAMPION = "champion"
CHALLENGER = "challenger"
# A retraining's decision when an existing version already holds its data, params, code.
UNCHANGED = "unchanged"


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    model_uri: str  # models:/name/version


def register_version(
    client, name: str, *, description: str, source: str, run_id: str, tags: dict[str, str]
) -> RegisteredVersion:
    """A new version of ``name`` (created with ``description`` when missing) with its
    tags, pointed at by ``challenger``; undone if the alias cannot be set."""
    if not model_exists(client, name):
        client.create_registered_model(name, description=description)
    version = client.create_model_version(name, source=source, run_id=run_id, tags=tags)
    try:
        client.set_registered_model_alias(name, CHALLENGER, version.version)
    except BaseException:  # no half-registered version: undo, then re-raise as is
        client.delete_model_version(name, version.version)
        raise
    return RegisteredVersion(name, str(version.version), f"models:/{name}/{version.version}")


def current_alias(client, name: str, alias: str):
    """The version ``alias`` points at, or None when the model or alias does not exist."""
    from mlflow.exceptions import MlflowException

    if not model_exists(client, name):
        return None
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            return None
        raise


def model_exists(client, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise
    return True


def identical_version(client, name: str, lineage_tags: dict[str, str]):
    """The newest version of ``name`` trained on the same data version, params hash and
    clean code commit as ``lineage_tags``, or None. Without a clean commit the code cannot
    be shown to be the same, so nothing counts as identical."""
    commit = lineage_tags.get("git_commit", "unknown")
    if commit == "unknown" or commit.endswith("-dirty") or not model_exists(client, name):
        return None
    keys = ("data_version", "params_hash", "git_commit")
    versions = client.search_model_versions(f"name = '{name}'")
    same = [
        version
        for version in versions
        if all((version.tags or {}).get(key) == lineage_tags.get(key) for key in keys)
    ]
    return max(same, key=lambda version: int(version.version), default=None)


def unchanged_reason(version) -> str:
    """What a run that changed nothing says instead of registering a copy."""
    tags = version.tags or {}
    return (
        f"version {version.version} already holds data {tags.get('data_version', '')[:12]}, "
        f"params {tags.get('params_hash')} and code {tags.get('git_commit', '')[:12]}: "
        "no new version registered, nothing to review"
    )


def describe_registration(client, registered: RegisteredVersion, run_id: str, summary: str) -> None:
    """Link a registration both ways in the MLflow UI: the run's note names the version,
    the version's description the run (MLflow shows neither link by itself)."""
    version_link = f"#/models/{registered.name}/versions/{registered.version}"
    client.set_tag(
        run_id,
        "mlflow.note.content",
        f"{summary}\n\nRegistered as [{registered.name} version {registered.version}]"
        f"({version_link}).",
    )
    client.update_model_version(
        registered.name,
        registered.version,
        description=f"{summary} Trained in run {run_id}; its evidence/ holds the model card.",
    )
