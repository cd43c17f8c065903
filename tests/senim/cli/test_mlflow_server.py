"""The team MLflow server: config and secrets, the user sync, and the real server's access rules."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from senim.cli import mlflow_server as ms
from senim.environment import resolve_stores
from senim.errors import ConfigError
from tests.senim.cli.cli_runner import run_senim as _senim

PG_BACKEND = "postgresql://mlflow:db-secret@db.internal:5432/mlflow"


def _stores(home: Path):
    return resolve_stores({"SENIM_HOME": str(home)})


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --------------------------------------------------------------------------- config


def test_given_no_settings_when_server_prepared_then_private_files_and_no_default_password(
    tmp_path,
):
    config = ms.resolve_server_config(_stores(tmp_path / "home"), {})
    launch = ms.prepare_server(config, {"PATH": "/usr/bin"})

    ini = config.auth_config_path
    assert _mode(ini) == 0o600 and _mode(config.state_dir) == 0o700
    text = ini.read_text()
    assert "default_permission = READ" in text
    assert "grant_default_workspace_access = true" in text
    assert "admin_password" not in text  # the password travels in the child's env only
    password = launch.env["MLFLOW_AUTH_ADMIN_PASSWORD"]
    assert password != ms.MLFLOW_LEGACY_DEFAULT_PASSWORD and len(password) >= 12
    assert _mode(config.state_dir / "admin.password") == 0o600
    assert launch.env["MLFLOW_AUTH_CONFIG_PATH"] == str(ini)
    assert launch.env["MLFLOW_FLASK_SERVER_SECRET_KEY"]
    assert ["--app-name", "basic-auth"] == launch.argv[2:4]
    assert "--serve-artifacts" in launch.argv and "--enable-workspaces" in launch.argv


def test_given_generated_secrets_when_prepared_again_then_the_same_ones_are_reused(tmp_path):
    config = ms.resolve_server_config(_stores(tmp_path / "home"), {})
    first = ms.prepare_server(config, {}).env
    second = ms.prepare_server(config, {}).env
    for name in ("MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY"):
        assert first[name] == second[name]


def test_given_sqlite_default_when_resolved_then_backend_and_auth_db_live_under_home(tmp_path):
    home = tmp_path / "home"
    config = ms.resolve_server_config(_stores(home), {})
    assert config.embedded
    assert config.backend_store_uri == f"sqlite:///{home.resolve() / 'mlflow' / 'tracking.db'}"
    assert config.auth_database_uri == f"sqlite:///{home.resolve() / 'mlflow' / 'basic_auth.db'}"
    assert config.artifacts_destination == (home.resolve() / "mlflow" / "artifacts").as_uri()


def test_given_postgres_backend_when_resolved_then_auth_db_is_its_own_postgres_database(tmp_path):
    config = ms.resolve_server_config(
        _stores(tmp_path / "home"), {"SENIM_MLFLOW_BACKEND_URI": PG_BACKEND}
    )
    assert not config.embedded
    assert config.auth_database_uri == "postgresql://mlflow:db-secret@db.internal:5432/mlflow_auth"
    ms.prepare_server(config, {})
    assert "database_uri = postgresql://mlflow:db-secret@db.internal:5432/mlflow_auth" in (
        config.auth_config_path.read_text()
    )
    assert "db-secret" not in ms.plain_command(config)


def test_given_s3_destination_when_prepared_then_endpoint_is_passed_to_the_server(tmp_path):
    env = {
        "SENIM_MLFLOW_BACKEND_URI": PG_BACKEND,
        "SENIM_MLFLOW_ARTIFACTS_DESTINATION": "s3://senim-artifacts/mlflow",
        "SENIM_MLFLOW_S3_ENDPOINT_URL": "http://minio.internal:9000",
        "AWS_ACCESS_KEY_ID": "minio-user",
    }
    config = ms.resolve_server_config(_stores(tmp_path / "home"), env)
    launch = ms.prepare_server(config, env)
    assert launch.env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio.internal:9000"
    assert launch.env["AWS_ACCESS_KEY_ID"] == "minio-user"
    assert "s3://senim-artifacts/mlflow" in launch.argv
    assert "MLFLOW_S3_ENDPOINT_URL=http://minio.internal:9000" in ms.plain_command(config)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("mysql://u:p@host/mlflow", "must be a PostgreSQL URL"),
        ("postgres://u:p@host/mlflow", "write postgresql://"),
        ("postgresql://host", "must name a host and a database"),
        ("sqlite:////var/tmp/elsewhere.db", "SQLite is only for a single-user setup"),
        ("./mlruns", "must be a PostgreSQL URL"),
    ],
)
def test_given_bad_backend_uri_when_resolved_then_clear_error(tmp_path, uri, message):
    with pytest.raises(ConfigError, match=message) as raised:
        ms.resolve_server_config(_stores(tmp_path / "home"), {}, backend_store_uri=uri)
    assert ":p@" not in str(raised.value)  # passwords never reach the message


def test_given_unsupported_artifact_store_when_resolved_then_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="s3://bucket/prefix"):
        ms.resolve_server_config(
            _stores(tmp_path / "home"), {}, artifacts_destination="gs://bucket/x"
        )


@pytest.mark.parametrize("password", [ms.MLFLOW_LEGACY_DEFAULT_PASSWORD, "short"])
def test_given_weak_admin_password_in_env_when_prepared_then_refused(tmp_path, password):
    config = ms.resolve_server_config(_stores(tmp_path / "home"), {})
    with pytest.raises(ConfigError, match="senim-admin"):
        ms.prepare_server(config, {"SENIM_MLFLOW_ADMIN_PASSWORD": password})


def test_given_admin_password_in_env_when_prepared_then_nothing_is_written_for_it(tmp_path):
    config = ms.resolve_server_config(_stores(tmp_path / "home"), {})
    env = {"SENIM_MLFLOW_ADMIN_USERNAME": "ops", "SENIM_MLFLOW_ADMIN_PASSWORD": "from-a-vault-42"}
    launch = ms.prepare_server(config, env)
    assert launch.env["MLFLOW_AUTH_ADMIN_USERNAME"] == "ops"
    assert launch.env["MLFLOW_AUTH_ADMIN_PASSWORD"] == "from-a-vault-42"
    assert not (config.state_dir / "admin.password").exists()
    assert "admin_username = ops" in config.auth_config_path.read_text()


def test_given_password_handout_when_written_then_one_private_file_per_user(tmp_path):
    written = ms.write_password_handout(tmp_path / "out", {"rita": "one-time-password-1"})
    assert [p.name for p in written] == ["rita.json"] and _mode(written[0]) == 0o600


# --------------------------------------------------------------------------- sync plan


def _account(name: str, *roles: str, active: bool = True) -> ms.SenimAccount:
    return ms.SenimAccount(username=name, roles=roles, is_active=active)


def test_given_senim_roles_when_planned_then_admins_readers_and_disabled_map_as_documented():
    accounts = [
        _account("alice", "admin"),
        _account("rita", "reviewer"),
        _account("emil", "ml_engineer"),
        _account("dora", "reviewer", active=False),
        _account("cam", "edge_device"),
        _account("bob", "reviewer"),
    ]
    existing = {"dora": False, "bob": True, "senim-admin": True}
    plan = ms.plan_user_sync(accounts, existing, reserved={"senim-admin", "senim-service"})
    assert {(a.kind, a.username) for a in plan} == {
        ("create", "alice"),
        ("set_admin", "alice"),
        ("create", "rita"),
        ("create", "emil"),
        ("delete", "dora"),
        ("unset_admin", "bob"),
    }


def test_given_senim_user_named_like_the_service_when_planned_then_refused():
    with pytest.raises(ConfigError, match="reserves"):
        ms.plan_user_sync([_account("senim-service", "reviewer")], {}, reserved={"senim-service"})


# --------------------------------------------------------------------------- CLI


@pytest.fixture()
def senim_home(tmp_path, monkeypatch):
    from tests.integration_workspace import make_workspace

    make_workspace(tmp_path, monkeypatch)
    for name in ("SENIM_MLFLOW_TRACKING_URI", "SENIM_MLFLOW_BACKEND_URI", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


def test_given_bad_backend_when_serve_runs_then_one_line_error(senim_home, capsys, monkeypatch):
    code, _, err = _senim(
        ["mlflow", "serve", "--backend-store-uri", "mysql://u:secret@h/db"], capsys, monkeypatch
    )
    assert code == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1
    assert "secret" not in err


def test_given_no_team_server_when_sync_runs_then_it_says_what_to_set(
    senim_home, capsys, monkeypatch
):
    code, _, err = _senim(["mlflow", "sync-users"], capsys, monkeypatch)
    assert code == 2 and "SENIM_MLFLOW_TRACKING_URI" in err


def test_given_print_command_when_serve_runs_then_plain_mlflow_command_is_shown(
    senim_home, capsys, monkeypatch
):
    code, out, _ = _senim(["mlflow", "serve", "--print-command"], capsys, monkeypatch)
    assert code == 0 and "mlflow server --app-name basic-auth" in out
    assert "MLFLOW_AUTH_CONFIG_PATH=" in out


def test_given_unreachable_team_server_when_user_created_then_user_exists_and_sync_is_flagged(
    senim_home, capsys, monkeypatch
):
    from tests.serving.credit_server import free_port

    monkeypatch.setenv("SENIM_MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    code, out, _ = _senim(
        ["users", "create", "--username", "root-admin", "--role", "admin", "--password-stdin"],
        capsys,
        monkeypatch,
        stdin="correct horse battery staple\n",
    )
    assert code == 0 and "created user root-admin" in out
    assert "run `senim mlflow sync-users`" in out


# --------------------------------------------------------------------------- real server


def _skip_without_auth_app() -> None:
    import importlib.util

    if importlib.util.find_spec("flask_wtf") is None:
        pytest.skip("MLflow's basic-auth app needs Flask-WTF (the mlflow[auth] extra)")


@pytest.mark.integration
@pytest.mark.postgres
def test_given_team_server_when_users_synced_then_reviewers_read_and_only_writers_write(
    postgres_dsn, tmp_path
):
    _skip_without_auth_app()
    import httpx

    from tests.mlflow_team_server import running_mlflow_server
    from tests.postgres_server import create_database
    from tests.serving.credit_server import free_port

    backend = create_database(postgres_dsn, "mlflow_team")
    home = tmp_path / "home"
    config = ms.resolve_server_config(
        _stores(home),
        {},
        port=free_port(),
        workers=1,  # one worker: a cached password is dropped where it changes
        backend_store_uri=backend,
        auth_cache_ttl_s=300,
    )
    assert ms.ensure_postgres_database(config.auth_database_uri)  # <db>_auth, made by Senim
    launch = ms.prepare_server(config, dict(os.environ))
    admin = ms.admin_credentials(home, {})
    service = ms.service_credentials(home, {})

    with running_mlflow_server(launch, tmp_path / "mlflow.log", config.port) as url:

        def call(method: str, path: str, who=None, **kwargs) -> httpx.Response:
            auth = (who.username, who.password) if who else None
            return httpx.request(method, url + path, auth=auth, timeout=30, **kwargs)

        assert call("GET", "/api/2.0/mlflow/experiments/search?max_results=1").status_code == 401
        assert admin.password != ms.MLFLOW_LEGACY_DEFAULT_PASSWORD
        for name in (admin.username, "admin"):
            legacy = ms.Credentials(name, ms.MLFLOW_LEGACY_DEFAULT_PASSWORD)
            assert call("GET", "/api/2.0/mlflow/users/list", legacy).status_code == 401

        api = ms.MlflowAuthApi(url, admin)
        accounts = [
            _account("alice", "admin"),
            _account("rita", "reviewer"),
            _account("emil", "ml_engineer"),
            _account("dora", "reviewer", active=False),
        ]
        report = ms.sync_users(api, accounts, service, admin.username)
        assert sorted(report.created) == ["alice", "emil", "rita"] and report.service_created
        again = ms.sync_users(api, accounts, service, admin.username)
        assert not again.created and not again.new_passwords  # idempotent
        alice, rita, emil = (
            ms.Credentials(n, report.new_passwords[n]) for n in ("alice", "rita", "emil")
        )

        # The service identity creates an experiment, logs a run, registers a model.
        made = call("POST", "/api/2.0/mlflow/experiments/create", service, json={"name": "credit"})
        assert made.status_code == 200, made.text
        experiment_id = made.json()["experiment_id"]
        run = call(
            "POST", "/api/2.0/mlflow/runs/create", service, json={"experiment_id": experiment_id}
        )
        assert run.status_code == 200, run.text
        run_id = run.json()["run"]["info"]["run_id"]
        metric = {"run_id": run_id, "key": "macro_f1", "value": 0.7, "timestamp": 0, "step": 0}
        assert call("POST", "/api/2.0/mlflow/runs/log-metric", service, json=metric).is_success
        model = {"name": "credit-rating"}
        assert call(
            "POST", "/api/2.0/mlflow/registered-models/create", service, json=model
        ).is_success
        version = {"name": "credit-rating", "source": f"runs:/{run_id}/model", "run_id": run_id}
        created = call("POST", "/api/2.0/mlflow/model-versions/create", service, json=version)
        assert created.status_code == 200, created.text
        alias = {"name": "credit-rating", "alias": "champion", "version": "1"}
        assert call(
            "POST", "/api/2.0/mlflow/registered-models/alias", service, json=alias
        ).is_success

        # Reviewers and engineers read everything and write nothing.
        for reader in (rita, emil):
            found = call(
                "POST", "/api/2.0/mlflow/experiments/search", reader, json={"max_results": 50}
            )
            assert found.status_code == 200
            assert "credit" in [e["name"] for e in found.json()["experiments"]]
            got = call("GET", "/api/2.0/mlflow/runs/get", reader, params={"run_id": run_id})
            assert got.status_code == 200 and got.json()["run"]["data"]["metrics"]
            listed = call("GET", "/api/2.0/mlflow/registered-models/search", reader)
            assert listed.status_code == 200
            for path, body in (
                ("/api/2.0/mlflow/runs/create", {"experiment_id": experiment_id}),
                ("/api/2.0/mlflow/experiments/create", {"name": f"{reader.username}-exp"}),
                ("/api/2.0/mlflow/registered-models/create", {"name": f"{reader.username}-m"}),
                ("/api/2.0/mlflow/model-versions/create", version),
                ("/api/2.0/mlflow/registered-models/alias", {**alias, "alias": "mine"}),
            ):
                assert call("POST", path, reader, json=body).status_code == 403, path

        # Senim admins are MLflow admins: everything, users included.
        assert call("GET", "/api/2.0/mlflow/users/list", alice).status_code == 200
        assert call(
            "POST", "/api/2.0/mlflow/experiments/create", alice, json={"name": "admin-exp"}
        ).is_success
        assert call(
            "POST", "/api/2.0/mlflow/runs/create", alice, json={"experiment_id": experiment_id}
        ).is_success
        assert call("POST", "/api/2.0/mlflow/model-versions/create", alice, json=version).is_success
        denied = call("POST", "/api/2.0/mlflow/users/create", service, json={"username": "x"})
        assert denied.status_code == 403  # the flows' identity cannot mint users

        # Disabling a Senim user removes their MLflow account.
        accounts[1] = _account("rita", "reviewer", active=False)
        assert ms.sync_users(api, accounts, service, admin.username).deleted == ["rita"]
        gone = call("POST", "/api/2.0/mlflow/experiments/search", rita, json={"max_results": 1})
        assert gone.status_code == 401
        api.close()


@pytest.mark.integration
@pytest.mark.postgres
def test_given_team_server_when_reviewer_approves_then_champion_moves_there_as_the_platform(
    postgres_dsn, tmp_path, monkeypatch, capsys
):
    """The README's reviewer path on the team server: the platform registers a version
    (as senim-service), the reviewer's own MLflow account cannot move an alias, and
    `senim review approve` (the reviewer's Senim password and TOTP) moves champion."""
    _skip_without_auth_app()
    import httpx
    import mlflow

    from pipelines.common.mlflow_store import mlflow_client
    from pipelines.release.gate import GateDecision
    from pipelines.release.promotion import apply_gate
    from pipelines.release.registry import RegisteredVersion
    from senim.config import load_params
    from senim.environment import resolve_stores
    from tests.mlflow_team_server import running_mlflow_server
    from tests.pipelines.release.test_review import (
        MODEL,
        PASSWORD,
        make_person,
        review_workspace,
    )
    from tests.postgres_server import create_database
    from tests.serving.credit_server import free_port

    review_workspace(tmp_path / "platform", monkeypatch)
    home = tmp_path / "mlflow-home"
    config = ms.resolve_server_config(
        _stores(home), {}, port=free_port(), workers=1,
        backend_store_uri=create_database(postgres_dsn, "mlflow_review"),
    )  # fmt: skip
    assert ms.ensure_postgres_database(config.auth_database_uri)
    launch = ms.prepare_server(config, dict(os.environ))
    admin, service = ms.admin_credentials(home, {}), ms.service_credentials(home, {})
    with running_mlflow_server(launch, tmp_path / "mlflow.log", config.port) as url:
        report = ms.sync_users(
            ms.MlflowAuthApi(url, admin), [_account("rita", "reviewer")], service, admin.username
        )
        rita_mlflow = ("rita", report.new_passwords["rita"])
        for name, value in (("MLFLOW_TRACKING_URI", url),
                            ("MLFLOW_TRACKING_USERNAME", service.username),
                            ("MLFLOW_TRACKING_PASSWORD", service.password)):  # fmt: skip
            monkeypatch.setenv(name, value)
        stores = resolve_stores()
        client = mlflow_client(stores)
        experiment = client.create_experiment("credit-review")
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_text("model", "model/MLmodel")
        client.create_registered_model(MODEL)
        version = client.create_model_version(
            MODEL, source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
        ).version
        client.set_registered_model_alias(MODEL, "challenger", version)
        apply_gate(
            client, RegisteredVersion(MODEL, str(version), run.info.run_id),
            GateDecision(passed=True, reasons=["macro_f1 ok"]),
            load_params(stores.params_path).review, stores.database_url,
        )  # fmt: skip
        direct = httpx.post(
            url + "/api/2.0/mlflow/registered-models/alias", auth=rita_mlflow, timeout=30,
            json={"name": MODEL, "alias": "champion", "version": str(version)},
        )  # fmt: skip
        assert direct.status_code == 403  # reviewers cannot write in MLflow themselves

        reviewer = make_person("rita", ["reviewer"])
        monkeypatch.setenv("SENIM_REVIEW_PASSWORD", PASSWORD)
        code, out, err = _senim(
            ["review", "approve", MODEL, str(version), "--comment", "fine on the team server",
             "--username", "rita", "--totp", reviewer.code()], capsys, monkeypatch,
        )  # fmt: skip
        assert code == 0, err
        champion = client.get_model_version_by_alias(MODEL, "champion")
        assert champion.version == str(version)
        assert champion.tags["review.reviewer"] == "rita"
