"""The registry follower: each champion move not yet handled is deployed once, where the
family is deployed; a failure changes nothing, is audited, and is retried next pass."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from pipelines.release import follow as follower
from pipelines.release.alias_history import alias_move, open_history, record_moves
from pipelines.release.deploy import Deployment, ServiceFamily, deployment_record_path
from pipelines.release.follow import DeploymentNotFollowed, follow_registry, raise_if_failed

MODEL = "credit-rating"
FAMILY = ServiceFamily(
    key="credit",
    bento_model_name=MODEL,
    copy_artifacts=lambda *args: None,
    registered_name=lambda params: MODEL,
)


class Registry:
    """The part of an MlflowClient the follower reads: where champion points."""

    def __init__(self, champion: str | None = "2", down: bool = False) -> None:
        self.champion = champion
        self.down = down

    def get_registered_model(self, name):
        return SimpleNamespace(name=name)

    def search_registered_models(self, *args, **kwargs):
        return [SimpleNamespace(name=MODEL)]

    def get_model_version_by_alias(self, name, alias):
        if self.down:
            raise ConnectionError("tracking store unreachable")
        if self.champion is None:
            from mlflow.exceptions import MlflowException

            raise MlflowException("no alias", error_code="RESOURCE_DOES_NOT_EXIST")
        return SimpleNamespace(version=self.champion)


@pytest.fixture()
def world(tmp_path, monkeypatch):
    from senim.environment import resolve_stores
    from tests.integration_workspace import make_workspace

    make_workspace(tmp_path, monkeypatch)
    stores = resolve_stores()
    sessions = open_history(stores.database_url)
    deployed: list[str] = []

    def fake_deploy(family, client, stores_, *, model_name, alias):
        version = client.get_model_version_by_alias(model_name, alias).version
        if getattr(client, "broken", None) == version:
            raise RuntimeError(f"cannot load {model_name} version {version}: bad weights")
        deployed.append(version)
        _write_record(stores_, version)
        return _deployment(version)

    monkeypatch.setattr(follower, "deploy_model", fake_deploy)
    monkeypatch.setattr(follower, "current_alias", _current_alias)
    yield SimpleNamespace(stores=stores, sessions=sessions, deployed=deployed)
    sessions.kw["bind"].dispose()


def _current_alias(client, name, alias):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _deployment(version: str) -> Deployment:
    return Deployment(
        tag=f"{MODEL}:mlflow-v{version}",
        mlflow_model=MODEL,
        mlflow_version=version,
        run_id="",
        data_version="d",
        git_commit="c",
        alias="champion",
        created=True,
    )


def _write_record(stores, version: str) -> None:
    from dataclasses import asdict

    path = deployment_record_path(stores, FAMILY)
    path.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{MODEL}:mlflow-v{version}"
    path.write_text(
        json.dumps(
            {"current": tag, "history": [tag], "deployments": {tag: asdict(_deployment(version))}}
        )
    )


def _move(world, to_version: str, action: str = "approve") -> None:
    record_moves(
        world.sessions, [alias_move(MODEL, "champion", None, to_version, action, "alice", "ok")]
    )


def _pass(world, registry):
    return follow_registry((FAMILY,), None, registry, world.stores, world.sessions)


def _audits(world):
    from auth.audit import query

    with world.sessions() as session:
        return query(session, action="deployment.follow")


def test_given_no_alias_move_when_followed_then_nothing_happens(world):
    assert _pass(world, Registry()) == []
    assert world.deployed == []


def test_given_a_family_never_deployed_when_champion_moves_then_it_is_left_alone(world):
    _move(world, "2")

    (outcome,) = _pass(world, Registry("2"))

    assert outcome.action == "not-deployed"
    assert "senim deploy credit" in outcome.describe()
    assert world.deployed == []
    assert _pass(world, Registry("2")) == []  # handled: not reported again


def test_given_a_deployed_family_when_champion_moves_then_the_new_champion_is_deployed_once(
    world,
):
    _write_record(world.stores, "1")
    _move(world, "2")

    (outcome,) = _pass(world, Registry("2"))

    assert outcome.action == "deployed" and outcome.version == "2"
    assert outcome.describe() == "credit: deployed credit-rating@champion = version 2"
    assert world.deployed == ["2"]
    assert _pass(world, Registry("2")) == []
    (audit,) = _audits(world)
    assert audit.outcome == "success" and audit.details["version"] == "2"


def test_given_a_rollback_to_what_is_deployed_when_followed_then_nothing_is_redeployed(world):
    _write_record(world.stores, "1")
    _move(world, "2")
    _move(world, "1", "rollback")

    (outcome,) = _pass(world, Registry("1"))

    assert outcome.action == "already-serving" and outcome.moves == 2
    assert world.deployed == []


def test_given_a_version_that_cannot_deploy_when_followed_then_nothing_changes_and_it_retries(
    world,
):
    _write_record(world.stores, "1")
    _move(world, "2")
    registry = Registry("2")
    registry.broken = "2"

    (outcome,) = _pass(world, registry)

    assert outcome.failed
    assert "bad weights" in outcome.error and "old version keeps serving" in outcome.describe()
    record = json.loads(deployment_record_path(world.stores, FAMILY).read_text())
    assert record["current"] == f"{MODEL}:mlflow-v1"
    (audit,) = _audits(world)
    assert audit.outcome == "failure" and "bad weights" in audit.details["error"]
    with pytest.raises(DeploymentNotFollowed, match="cannot deploy credit-rating@champion"):
        raise_if_failed([outcome])

    registry.broken = None  # fixed (or the registry is back): the next pass deploys it
    (retried,) = _pass(world, registry)
    assert retried.action == "deployed" and world.deployed == ["2"]


def test_given_the_registry_down_when_followed_then_the_failure_is_reported(world):
    _write_record(world.stores, "1")
    _move(world, "2")

    (outcome,) = _pass(world, Registry(down=True))

    assert outcome.failed and "tracking store unreachable" in outcome.error
    assert world.deployed == []


def test_given_champion_removed_when_followed_then_the_deployment_stays(world):
    _write_record(world.stores, "1")
    _move(world, "2")

    (outcome,) = _pass(world, Registry(champion=None))

    assert outcome.action == "no-version"
    assert world.deployed == []
