"""`senim serve`'s command line: TLS when asked, and X-Forwarded-For left to the auth layer."""

from __future__ import annotations

import json

import pytest

from pipelines.credit.deploy import CREDIT
from pipelines.release.deploy import serve_command
from senim.environment import resolve_stores
from senim.errors import ConfigError


@pytest.fixture()
def stores(tmp_path):
    stores = resolve_stores({"SENIM_HOME": str(tmp_path / "home"), "SENIM_WORKSPACE": "."})
    state = stores.home / "deployments" / "credit.json"
    state.parent.mkdir(parents=True)
    deployed = {
        "tag": "credit-rating:mlflow-v3", "mlflow_model": "credit-rating", "mlflow_version": "3",
        "run_id": "r", "data_version": "d", "git_commit": "g", "alias": "champion",
        "created": True, "bento_tag": "credit-service:v3-abc",
    }  # fmt: skip
    state.write_text(
        json.dumps({"current": deployed["tag"], "deployments": {deployed["tag"]: deployed}})
    )
    return stores


def test_given_no_tls_when_the_command_is_built_then_plain_and_no_forwarded_trust(stores):
    command, env = serve_command(CREDIT, stores, host="127.0.0.1", port=3000)

    assert "--ssl-certfile" not in command and command[4] == "credit-service:v3-abc"
    assert env["FORWARDED_ALLOW_IPS"] == ""  # uvicorn must not believe X-Forwarded-For


def test_given_a_certificate_and_key_when_the_command_is_built_then_bentoml_serves_https(
    stores, tmp_path
):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("cert")
    key.write_text("key")

    command, _ = serve_command(
        CREDIT, stores, host="0.0.0.0", port=3443, ssl_certfile=cert, ssl_keyfile=key
    )

    assert command[-4:] == ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)]


@pytest.mark.parametrize("which", ["only-cert", "missing-file"])
def test_given_half_or_missing_tls_files_when_the_command_is_built_then_config_error(
    stores, tmp_path, which
):
    cert = tmp_path / "cert.pem"
    if which == "only-cert":
        cert.write_text("cert")
        with pytest.raises(ConfigError, match="both --ssl-certfile and --ssl-keyfile"):
            serve_command(CREDIT, stores, host="h", port=1, ssl_certfile=cert)
    else:
        with pytest.raises(ConfigError, match="not found"):
            serve_command(CREDIT, stores, host="h", port=1, ssl_certfile=cert, ssl_keyfile=cert)
