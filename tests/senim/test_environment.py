import os

import pytest

from senim.environment import redact_url, resolve_stores
from senim.errors import ConfigError


def test_given_only_senim_home_when_resolved_then_every_store_lives_under_it(tmp_path):
    stores = resolve_stores(
        {"SENIM_HOME": str(tmp_path / "home"), "SENIM_WORKSPACE": str(tmp_path)}
    )
    home = str(tmp_path / "home")
    assert stores.tracking_uri == f"sqlite:///{home}/mlflow.db"
    assert stores.artifact_root == (tmp_path / "home" / "mlartifacts").as_uri()
    assert stores.database_url.startswith(f"sqlite:///{home}")
    assert stores.dvc_remote.startswith(home)
    assert stores.optuna_storage is None


def test_given_tracking_server_when_resolved_then_server_owns_artifacts(tmp_path):
    stores = resolve_stores(
        {"SENIM_WORKSPACE": str(tmp_path), "MLFLOW_TRACKING_URI": "http://mlflow:5000"}
    )
    assert stores.artifact_root is None
    assert "open http://mlflow:5000" in stores.mlflow_ui_command()


def test_given_non_url_database_when_resolved_then_error_names_variable(tmp_path):
    with pytest.raises(ConfigError, match="SENIM_OPTUNA_STORAGE"):
        resolve_stores({"SENIM_WORKSPACE": str(tmp_path), "SENIM_OPTUNA_STORAGE": "localhost"})


def test_given_missing_workspace_when_resolved_then_error(tmp_path):
    with pytest.raises(ConfigError, match="SENIM_WORKSPACE"):
        resolve_stores({"SENIM_WORKSPACE": str(tmp_path / "missing")})


def test_given_password_in_url_when_redacted_then_hidden():
    assert redact_url("postgresql://senim:s3cret@db:5432/x") == "postgresql://senim:***@db:5432/x"
    assert redact_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_given_fresh_process_when_home_prepared_then_prefect_gets_a_cold_start_budget(
    tmp_path, monkeypatch
):
    from senim.environment import (
        PREFECT_STARTUP_TIMEOUT_SECONDS,
        PREFECT_STARTUP_TIMEOUT_VARIABLE,
        prepare_home,
    )

    monkeypatch.delenv(PREFECT_STARTUP_TIMEOUT_VARIABLE, raising=False)
    for name in ("PREFECT_HOME", "MPLCONFIGDIR", "KERAS_HOME", "BENTOML_HOME"):
        monkeypatch.delenv(name, raising=False)
    prepare_home(resolve_stores({"SENIM_HOME": str(tmp_path), "SENIM_WORKSPACE": str(tmp_path)}))
    assert int(os.environ[PREFECT_STARTUP_TIMEOUT_VARIABLE]) == PREFECT_STARTUP_TIMEOUT_SECONDS
    assert PREFECT_STARTUP_TIMEOUT_SECONDS >= 120  # Prefect's own 20 s fails on cold 2 cores


def test_given_users_own_budget_when_home_prepared_then_it_wins(tmp_path, monkeypatch):
    from senim.environment import PREFECT_STARTUP_TIMEOUT_VARIABLE, prepare_home

    monkeypatch.setenv(PREFECT_STARTUP_TIMEOUT_VARIABLE, "900")
    for name in ("PREFECT_HOME", "MPLCONFIGDIR", "KERAS_HOME", "BENTOML_HOME"):
        monkeypatch.delenv(name, raising=False)
    prepare_home(resolve_stores({"SENIM_HOME": str(tmp_path), "SENIM_WORKSPACE": str(tmp_path)}))
    assert os.environ[PREFECT_STARTUP_TIMEOUT_VARIABLE] == "900"


def test_given_prefect_startup_timeout_when_explained_then_error_names_the_setting(monkeypatch):
    from senim.environment import PREFECT_STARTUP_TIMEOUT_VARIABLE, explain_prefect_startup_failure
    from senim.errors import StoreUnreachableError

    monkeypatch.setenv(PREFECT_STARTUP_TIMEOUT_VARIABLE, "300")
    prefects_own = RuntimeError(
        "Timed out while attempting to connect to ephemeral Prefect API server."
    )
    explained = explain_prefect_startup_failure(prefects_own)
    assert isinstance(explained, StoreUnreachableError)
    assert PREFECT_STARTUP_TIMEOUT_VARIABLE in str(explained) and "300 s" in str(explained)
    assert explain_prefect_startup_failure(RuntimeError("something else")) is None
    assert explain_prefect_startup_failure(ValueError("ephemeral Prefect API")) is None


def test_given_prefect_api_never_starts_when_a_command_runs_then_one_line_names_the_fix(
    monkeypatch, capsys
):
    import senim.cli.app
    from senim.environment import PREFECT_STARTUP_TIMEOUT_VARIABLE
    from tests.senim.cli.cli_runner import run_senim

    def prefect_times_out(**_):
        raise RuntimeError("Timed out while attempting to connect to ephemeral Prefect API server.")

    monkeypatch.setattr(senim.cli.app, "_command", lambda: prefect_times_out)
    code, _, err = run_senim(["run"], capsys)
    assert code == 4
    assert err.count("\n") == 1 and PREFECT_STARTUP_TIMEOUT_VARIABLE in err


def test_given_embedded_store_when_ui_command_printed_then_it_runs_without_a_global_uv(tmp_path):
    import shlex
    from pathlib import Path

    stores = resolve_stores({"SENIM_HOME": str(tmp_path), "SENIM_WORKSPACE": str(tmp_path)})
    command = shlex.split(stores.mlflow_ui_command())
    assert not command[0].startswith("uv")
    assert Path(command[0]).is_file() and command[1:3] == ["ui", "--backend-store-uri"]
