"""Which model a credit service serves: the Bento's pinned tag, else the env var, else
the current deployment; and the start-up application every model must score."""

from __future__ import annotations

import json
from dataclasses import asdict
from types import SimpleNamespace

import bentoml
import pytest

import serving.credit_model_source as model_source
from pipelines.credit.deploy import Deployment
from pipelines.credit.schema import RATIO_COLUMNS, SECTORS
from pipelines.release.bento_build import MODEL_TAG_ARGUMENT
from senim.environment import Stores, resolve_stores
from senim.errors import RegistryError
from serving.credit_model_source import MODEL_TAG_ENV, resolve_model_tag, smoke_application
from serving.credit_schemas import CreditApplication, to_frame
from serving.served_model import service_params_path
from tests.serving.scoring_fixtures import CARD, DEFAULTS, fitted_xgboost, scorer


@pytest.fixture()
def stores(tmp_path) -> Stores:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    return resolve_stores(
        env={"SENIM_HOME": str(tmp_path / "home"), "SENIM_WORKSPACE": str(workspace)}
    )


@pytest.fixture()
def in_a_bento(monkeypatch):
    """Pretend to run inside a Bento built with ``--arg model_tag=...``."""
    arguments = SimpleNamespace(**{MODEL_TAG_ARGUMENT: "credit-rating:mlflow-v9"})
    monkeypatch.setattr(bentoml, "use_arguments", lambda *a, **k: arguments)
    return arguments


def _deploy(stores: Stores, tag: str) -> None:
    """Record ``tag`` as current in SENIM_HOME/deployments/credit.json, as deploy does."""
    deployment = Deployment(
        tag=tag,
        mlflow_model="credit-rating",
        mlflow_version="4",
        run_id="run",
        data_version="d",
        git_commit="c",
        alias="champion",
        created=False,
    )
    path = stores.home / "deployments" / "credit.json"
    path.parent.mkdir(parents=True)
    state = {"current": tag, "history": [tag], "deployments": {tag: asdict(deployment)}}
    path.write_text(json.dumps(state))


def test_given_nothing_deployed_and_no_env_when_resolving_then_registry_error_says_what_to_do(
    stores,
):
    with pytest.raises(RegistryError, match="no credit model is deployed") as error:
        resolve_model_tag(stores, env={})
    assert "senim deploy credit" in str(error.value) and MODEL_TAG_ENV in str(error.value)


def test_given_the_env_var_when_resolving_then_its_tag_is_served(stores):
    assert resolve_model_tag(stores, env={MODEL_TAG_ENV: "credit-rating:mlflow-v2"}) == (
        "credit-rating:mlflow-v2"
    )


def test_given_an_empty_env_var_when_resolving_then_it_counts_as_unset(stores):
    with pytest.raises(RegistryError):
        resolve_model_tag(stores, env={MODEL_TAG_ENV: ""})


def test_given_a_deployment_when_resolving_then_the_current_one_is_served(stores):
    _deploy(stores, "credit-rating:mlflow-v4")

    assert resolve_model_tag(stores, env={}) == "credit-rating:mlflow-v4"


def test_given_a_deployment_and_the_env_var_when_resolving_then_the_env_var_wins(stores):
    """The env var overrides the workspace's deployment (serving another model from source)."""
    _deploy(stores, "credit-rating:mlflow-v4")

    assert resolve_model_tag(stores, env={MODEL_TAG_ENV: "credit-rating:mlflow-v2"}) == (
        "credit-rating:mlflow-v2"
    )


def test_given_a_process_env_var_when_resolving_without_env_then_os_environ_is_read(
    stores, monkeypatch
):
    monkeypatch.setenv(MODEL_TAG_ENV, "credit-rating:mlflow-v5")

    assert resolve_model_tag(stores) == "credit-rating:mlflow-v5"


def test_given_a_pinned_bento_when_resolving_then_its_build_argument_wins(stores, in_a_bento):
    """A Bento always serves the model it was built with, whatever the environment says."""
    _deploy(stores, "credit-rating:mlflow-v4")

    tag = resolve_model_tag(stores, env={MODEL_TAG_ENV: "credit-rating:mlflow-v2"})

    assert tag == "credit-rating:mlflow-v9"


def test_given_serving_from_source_then_the_workspace_params_are_used(stores):
    assert service_params_path(stores) == stores.params_path


def test_given_a_pinned_bento_then_the_params_it_was_built_with_are_used(stores, in_a_bento):
    """In a Bento, params.yaml sits beside the service code (staged by bento_build)."""
    path = service_params_path(stores)

    assert path.name == "params.yaml" and path != stores.params_path
    assert (path.parent / "serving" / "credit_model_source.py").is_file()


def test_given_the_smoke_application_then_it_is_a_valid_application_of_ones():
    application = smoke_application()

    assert isinstance(application, CreditApplication)
    assert application.sector == SECTORS[0]
    frame = to_frame([application], DEFAULTS)
    assert frame.loc[0, list(RATIO_COLUMNS)].tolist() == [1.0] * len(RATIO_COLUMNS)


def test_given_a_model_when_it_scores_the_smoke_application_then_one_valid_answer():
    model, _ = fitted_xgboost()

    (result,) = scorer(model).score([smoke_application()])

    assert 0 <= result.score <= 100 and result.decision in {"approve", "review", "reject"}
    assert result.lineage.model_version == "3"


def _stand_in(score) -> SimpleNamespace:
    """What ``_smoke_test`` uses of a scorer: its card and ``score``."""
    return SimpleNamespace(card=CARD, score=score)


def test_given_a_scorer_that_fails_when_smoke_tested_then_registry_error_names_the_bento():
    """A model that cannot score is not servable: start-up fails with the reason."""

    def broken(applications):
        raise ValueError("X has 3 features, but the model expects 37")

    with pytest.raises(RegistryError, match="failed its start-up check: X has 3") as error:
        model_source._smoke_test(_stand_in(broken))
    assert CARD.bento_tag in str(error.value)


def test_given_a_scorer_reporting_another_version_when_smoke_tested_then_registry_error():
    """Lineage must name the version the card says is served."""

    def mislabelled(applications):
        return [SimpleNamespace(lineage=SimpleNamespace(model_version="2"))]

    with pytest.raises(RegistryError, match="wrong version"):
        model_source._smoke_test(_stand_in(mislabelled))


def test_given_a_working_scorer_when_smoke_tested_then_it_passes():
    model, _ = fitted_xgboost()

    assert model_source._smoke_test(scorer(model)) is None
