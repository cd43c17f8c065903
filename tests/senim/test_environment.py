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
