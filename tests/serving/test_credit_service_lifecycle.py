"""The credit service before and after a model exists: never ready on nothing, says why,
recovers once a model is deployed; and the exported Bento imports on its own (the image)."""

from __future__ import annotations

import os
import re
import time

import httpx
import pytest

from pipelines.release.bento_build import SOURCE_ROOT
from tests.integration_workspace import make_workspace
from tests.serving.credit_server import free_port, running_server

pytestmark = pytest.mark.integration


def _eventually(check, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return False


def test_given_no_deployment_when_served_then_live_not_ready_says_why_and_recovers_on_deploy(
    _trained_store_session, tmp_path, monkeypatch, capsys
):
    from senim.cli.app import main
    from senim.environment import resolve_stores

    make_workspace(_trained_store_session["root"], monkeypatch)
    tracking_uri = resolve_stores().tracking_uri
    make_workspace(tmp_path, monkeypatch)  # a fresh SENIM_HOME: nothing deployed
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "home" / "bentoml"))
    port = free_port()
    command = [
        str(SOURCE_ROOT / ".venv" / "bin" / "bentoml")
        if (SOURCE_ROOT / ".venv" / "bin" / "bentoml").exists()
        else "bentoml",
        "serve",
        "serving.credit_service:CreditService",
        "--working-dir",
        str(SOURCE_ROOT),
        "--port",
        str(port),
    ]
    with running_server(
        command, os.environ, tmp_path / "server.log", port, expect_ready=False
    ) as server:
        assert httpx.get(server.url + "/readyz").status_code == 503
        scored = httpx.post(server.url + "/v1/credit/score", json={}, headers={"X-API-Key": "x"})
        assert scored.status_code == 503
        assert _eventually(
            lambda: re.search(
                r"credit service not ready: .*no credit model is deployed", server.log()
            )
        ), server.log()

        with pytest.raises(SystemExit) as deployed:
            main(["deploy", "credit", "--export", str(tmp_path / "credit-service.bento")])
        assert deployed.value.code in (0, None), capsys.readouterr().err

        # The loader retries with backoff (1, 2, 4, 8 s ...): ready without a restart.
        assert _eventually(
            lambda: httpx.get(server.url + "/readyz").status_code == 200, timeout_s=40
        ), server.log()
        assert _eventually(lambda: "credit service ready: credit-rating version" in server.log())

    # What the image's build does: import the exported Bento into an empty BentoML home.
    import bentoml
    from bentoml._internal.bento.bento import BentoStore

    store = BentoStore(str(tmp_path / "image-bentoml" / "bentos"))
    imported = bentoml.bentos.import_bento(
        str(tmp_path / "credit-service.bento"), _bento_store=store
    )
    assert imported.tag.name == "credit-service"
    assert [m.tag.name for m in imported.info.models] == ["credit-rating"]
    assert (imported.path_of("src/params.yaml")).endswith("params.yaml")
    assert imported.info.args["model_tag"].startswith("credit-rating:mlflow-v")
