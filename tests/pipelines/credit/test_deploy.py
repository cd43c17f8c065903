"""Deploy step: alias pinned to a version, imported once with lineage labels, rollback."""

from __future__ import annotations

import json

import pytest

from senim.cli.app import main

pytestmark = pytest.mark.integration


def _deploy(args, capsys):
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["deploy", "credit", *args])
    captured = capsys.readouterr()
    return exit_info.value.code or 0, captured.out, captured.err


def test_given_champion_when_deployed_twice_then_imported_once_and_rollback_restores(
    trained_store, capsys
):
    from pipelines.credit.deploy import current_credit_deployment
    from pipelines.release.bento_build import use_senim_stores
    from pipelines.release.deploy import model_store as _model_store
    from senim.environment import resolve_stores

    def bentoml_store(stores):
        return use_senim_stores(stores)[1]

    stores = resolve_stores()
    code, out, err = _deploy([], capsys)
    assert code == 0, err
    first = current_credit_deployment(stores)
    assert first.mlflow_model == "credit-rating" and first.alias == "champion"
    model = _model_store(stores).get(first.tag)
    labels = model.info.labels
    assert labels["mlflow_version"] == first.mlflow_version
    assert labels["data_version"] == trained_store["summary"].data_version
    assert (model.path_of("mlflow_model") + "/MLmodel").endswith("MLmodel")

    bento = first.bento_tag
    assert bento.startswith("credit-service:v" + first.mlflow_version + "-")
    # the inference path is decided (and checked) at deploy, and labelled on the Bento
    built = bentoml_store(stores).get(bento)
    assert built.info.labels["inference"] == first.labels["inference"]
    assert built.info.labels["inference"].startswith(("compiled, checked on", "native"))
    assert f"inference: {first.labels['inference']}" in out
    assert "Bento " + bento + ": built" in out or "already built" in out
    code, out, _ = _deploy([], capsys)
    assert code == 0 and "already imported" in out
    assert f"Bento {bento}: already built" in out  # same model, same code: a no-op
    assert current_credit_deployment(stores).bento_tag == bento

    versions = sorted(m.tag.version for m in _model_store(stores).list("credit-rating"))
    code, _, err = _deploy(["--alias", "challenger"], capsys)
    if code == 0:  # a challenger exists when the strict-gate test ran first
        assert current_credit_deployment(stores).alias == "challenger"
        code, out, _ = _deploy(["--rollback"], capsys)
        assert code == 0 and current_credit_deployment(stores).tag == first.tag
        assert current_credit_deployment(stores).bento_tag == bento  # kept for rollback
    else:
        assert "cannot resolve models:/credit-rating@challenger" in err
        assert sorted(m.tag.version for m in _model_store(stores).list("credit-rating")) == versions
        code, _, err = _deploy(["--rollback"], capsys)
        assert code != 0 and "nothing to roll back" in err
    state = json.loads((stores.home / "deployments" / "credit.json").read_text())
    assert state["current"] == first.tag


def test_given_champion_when_deploy_flow_runs_then_same_deployment_as_the_cli(trained_store):
    """The Prefect flow ``deploy-credit`` calls the one implementation the CLI calls."""
    from flows.deploy_service import deploy_credit_flow
    from pipelines.credit.deploy import current_credit_deployment
    from senim.environment import resolve_stores

    record = deploy_credit_flow(alias="champion")
    current = current_credit_deployment(resolve_stores())
    assert record["tag"] == current.tag and record["bento_tag"] == current.bento_tag
    assert record["mlflow_model"] == "credit-rating" and record["alias"] == "champion"


def test_given_no_bento_deployed_when_serving_then_registry_error_names_the_fix(
    tmp_path, monkeypatch, capsys
):
    from tests.integration_workspace import make_workspace

    make_workspace(tmp_path, monkeypatch)
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "credit", "--port", "3999"])
    assert exit_info.value.code == 5
    assert "run `senim deploy credit` first" in capsys.readouterr().err


def test_given_no_uv_on_path_when_deploy_credit_runs_then_bento_builds_from_the_locked_env(
    trained_store, tmp_path
):
    """A new user has no global uv: BentoML must find the locked one, never pip-install it."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    system_path = "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"
    env = {
        "PATH": system_path,
        "HOME": str(tmp_path / "empty-home"),
        "LANG": "C.UTF-8",
        "SENIM_HOME": os.environ["SENIM_HOME"],
        "SENIM_WORKSPACE": os.environ["SENIM_WORKSPACE"],
        "BENTOML_HOME": str(Path(os.environ["SENIM_HOME"]) / "bentoml"),
    }
    senim = Path(sys.executable).parent / "senim"
    done = subprocess.run(
        [str(senim), "deploy", "credit"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Bento credit-service:v" in done.stdout
    assert "install" not in done.stderr.lower()
