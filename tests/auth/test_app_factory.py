from fastapi.testclient import TestClient

from auth.http_app import app_from_environment


def test_given_environment_stores_when_factory_builds_app_then_it_serves_auth(
    tmp_path, monkeypatch
):
    from tests.integration_workspace import make_workspace

    make_workspace(tmp_path, monkeypatch)
    app = app_from_environment()
    with TestClient(app) as client:
        response = client.get("/auth/me")
    assert response.status_code == 401 and response.json()["error"] == "not_authenticated"
    assert (tmp_path / "home" / "senim.db").is_file()
