"""Edge events and heartbeats through ``AuthMiddleware`` and the real auth runtime (SQLite
and PostgreSQL, real API keys): permissions, idempotency, host identity, bad input and
the audit trail."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from auth import machine_keys
from auth.asgi import AuthMiddleware
from auth.errors import PermissionDenied
from auth.runtime import RequestMeta
from edge.protocol import EVENTS_PATH, HEARTBEAT_PATH
from senim.environment import resolve_stores
from senim.platform_db.tables import EdgeEventRecord, EdgeHostRecord
from serving.edge_api import EDGE_REQUIRED_PERMISSIONS, build_edge_app
from tests.auth.http_harness import AuthHarness
from tests.postgres_server import create_database

HOST = "cam-lobby-01"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def harness(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'senim.db'}"
    else:
        url = create_database(request.getfixturevalue("postgres_dsn"), f"edge_{uuid.uuid4().hex}")
    built = AuthHarness(url, tmp_path / "home")
    yield built
    built.close()


def _key(harness: AuthHarness, name: str, role: str) -> dict[str, str]:
    created = machine_keys.create_key(
        harness.runtime, name, role, RequestMeta(ip="local"), actor_id="cli:test",
        actor_roles=("admin",),
    )  # fmt: skip
    return {"X-API-Key": created.key}


def _client(harness: AuthHarness, tmp_path, required=EDGE_REQUIRED_PERMISSIONS) -> TestClient:
    stores = resolve_stores({"SENIM_HOME": str(tmp_path / "home"), "SENIM_WORKSPACE": "."})
    app = build_edge_app(lambda: harness.runtime, stores, "fer-emotion", trusted_proxies=())
    guarded = AuthMiddleware(app, runtime=harness.runtime, required=required)
    return TestClient(guarded)


@pytest.fixture()
def client(harness, tmp_path) -> TestClient:
    return _client(harness, tmp_path)


@pytest.fixture()
def edge_key(harness) -> dict[str, str]:
    return _key(harness, HOST, "edge_device")


def _event(**changes: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "host_id": HOST,
        "kind": "emotion_persisted",
        "rule": "angry-at-desk",
        "emotion": "Angry",
        "confidence": 0.91,
        "started_at": "2026-03-02T09:00:00Z",
        "duration_seconds": 4.5,
        "face_id": 3,
        "model_version": "1",
        "clip_path": "/var/senim/clips/a.mp4",
    } | changes


def _heartbeat(**changes: Any) -> dict[str, Any]:
    return {
        "host_id": HOST,
        "model_version": "1",
        "fps": 14.5,
        "outbox_depth": 2,
        "uptime_seconds": 3600.0,
        "sent_at": "2026-03-02T09:00:05Z",
    } | changes


def _post_event(client: TestClient, key: dict, body: dict, idem: str | None = "same") -> Any:
    headers = dict(key)
    if idem is not None:
        headers["Idempotency-Key"] = body["event_id"] if idem == "same" else idem
    return client.post(EVENTS_PATH, json=body, headers=headers)


def _stored_events(harness: AuthHarness) -> list[EdgeEventRecord]:
    with harness.runtime.sessions() as session:
        return list(session.scalars(sa.select(EdgeEventRecord)))


def test_given_an_edge_key_when_an_event_is_posted_then_201_stored_once_with_caller(
    harness, client, edge_key
):
    body = _event()

    response = _post_event(client, edge_key, body)

    assert response.status_code == 201
    assert response.json() == {"event_id": body["event_id"], "status": "created"}
    [stored] = _stored_events(harness)
    assert stored.host_id == HOST and stored.event == body
    assert stored.caller.startswith("key:") and len(stored.body_sha256) == 64


def test_given_a_stored_event_when_retried_with_the_same_body_then_200_duplicate_stored_once(
    harness, client, edge_key
):
    body = _event()
    _post_event(client, edge_key, body)
    reordered = json.loads(json.dumps(dict(reversed(list(body.items())))))

    again = _post_event(client, edge_key, reordered)

    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert len(_stored_events(harness)) == 1


def test_given_a_stored_event_when_its_key_is_reused_for_another_body_then_409(
    harness, client, edge_key
):
    body = _event()
    _post_event(client, edge_key, body)

    clash = _post_event(client, edge_key, {**body, "confidence": 0.5})

    assert clash.status_code == 409
    assert clash.json()["error"] == "idempotency_conflict" and clash.json()["field"] == "event_id"
    [stored] = _stored_events(harness)
    assert stored.event["confidence"] == 0.91


@pytest.mark.parametrize("idem", [None, "another-key-123"], ids=["missing", "different"])
def test_given_an_idempotency_key_not_equal_to_event_id_when_posted_then_400_names_header(
    harness, client, edge_key, idem
):
    response = _post_event(client, edge_key, _event(), idem=idem)

    assert response.status_code == 400
    assert response.json()["error"] == "idempotency_key_mismatch"
    assert response.json()["field"] == "Idempotency-Key"
    assert _stored_events(harness) == []


def test_given_another_hosts_key_when_posting_for_this_host_then_403_and_audited_denied(
    harness, client
):
    other = _key(harness, "cam-dock-02", "edge_device")

    response = _post_event(client, other, _event())

    assert response.status_code == 403 and response.json()["field"] == "host_id"
    assert _stored_events(harness) == []
    [row] = harness.audit(action="edge:event")
    assert row.outcome == "denied" and row.details["host_id"] == HOST


def test_given_an_admin_when_posting_for_any_host_then_201(harness, client):
    """Backfills: a signed-in admin may post for any host (keys are machine-only now, so
    no admin-role key exists to do it)."""
    admin = harness.enrolled_admin()

    assert _post_event(client, admin.auth, _event()).status_code == 201
    with pytest.raises(PermissionDenied, match="API keys are for machines"):
        _key(harness, "ops-backfill", "admin")


@pytest.mark.parametrize("path", [EVENTS_PATH, HEARTBEAT_PATH])
def test_given_a_service_key_when_posting_edge_data_then_403(harness, client, path):
    service = _key(harness, HOST, "service")

    response = client.post(path, json=_event(), headers=service)

    assert response.status_code == 403 and response.json()["error"] == "forbidden"


@pytest.mark.parametrize("path", [EVENTS_PATH, HEARTBEAT_PATH])
def test_given_no_key_when_posting_edge_data_then_401(client, path):
    assert client.post(path, json=_event()).status_code == 401


def test_given_a_mount_without_the_permission_tuple_when_a_service_key_posts_then_still_403(
    harness, tmp_path
):
    unguarded = _client(harness, tmp_path, required=())
    service = _key(harness, HOST, "service")

    response = _post_event(unguarded, service, _event())

    assert response.status_code == 403
    assert _stored_events(harness) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"confidence": 1.5}, "confidence"),
        ({"emotion": "Bored"}, "emotion"),
        ({"face_id": "3"}, "face_id"),
        ({"colour": "red"}, "colour"),
        ({"started_at": "yesterday"}, "started_at"),
    ],
)
def test_given_a_bad_event_field_when_posted_then_400_names_the_field(
    harness, client, edge_key, change, field
):
    response = _post_event(client, edge_key, _event(**change))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_event" and response.json()["field"] == field
    assert field in response.json()["message"]


def test_given_a_missing_field_when_posted_then_400_names_it(client, edge_key):
    body = _event()
    del body["rule"]

    response = _post_event(client, edge_key, body)

    assert response.status_code == 400 and response.json()["field"] == "rule"


def test_given_not_json_or_oversize_or_wrong_type_when_posted_then_clear_4xx(client, edge_key):
    headers = {**edge_key, "Content-Type": "application/json", "Idempotency-Key": "x" * 12}
    broken = client.post(EVENTS_PATH, content=b"{not json", headers=headers)
    huge = client.post(EVENTS_PATH, content=b" " * 20_000, headers=headers)
    form = client.post(EVENTS_PATH, data={"a": "b"}, headers=edge_key)

    assert broken.status_code == 400 and broken.json()["error"] == "invalid_json"
    assert huge.status_code == 413 and huge.json()["error"] == "payload_too_large"
    assert form.status_code == 415 and form.json()["error"] == "unsupported_media_type"


def test_given_events_when_posted_then_each_is_audited_with_the_principal(
    harness, client, edge_key
):
    body = _event()
    _post_event(client, edge_key, body)
    _post_event(client, edge_key, body)

    rows = harness.audit(action="edge:event")

    assert [r.details["status"] for r in reversed(rows)] == ["created", "duplicate"]
    prefix = _stored_events(harness)[0].caller
    assert {r.actor for r in rows} == {prefix}
    assert {r.resource for r in rows} == {f"event:{body['event_id']}"}
    assert {r.outcome for r in rows} == {"success"}


def test_given_heartbeats_when_posted_then_204_and_the_latest_is_kept_per_host(
    harness, client, edge_key
):
    first = client.post(HEARTBEAT_PATH, json=_heartbeat(), headers=edge_key)
    harness.clock.advance(10)
    second = client.post(
        HEARTBEAT_PATH,
        json=_heartbeat(fps=9.0, outbox_depth=0, model_version="2"),
        headers=edge_key,
    )

    assert (first.status_code, second.status_code) == (204, 204)
    with harness.runtime.sessions() as session:
        [host] = list(session.scalars(sa.select(EdgeHostRecord)))
    assert (host.host_id, host.model_version, host.fps, host.outbox_depth) == (HOST, "2", 9.0, 0)
    assert host.last_heartbeat["sent_at"] == "2026-03-02T09:00:05Z"
    assert host.last_seen_at == harness.clock.now() and host.caller.startswith("key:")


def test_given_a_heartbeat_for_another_host_when_posted_then_403_and_nothing_stored(
    harness, client, edge_key
):
    response = client.post(HEARTBEAT_PATH, json=_heartbeat(host_id="cam-x"), headers=edge_key)

    assert response.status_code == 403
    with harness.runtime.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(EdgeHostRecord)) == 0
    assert harness.audit(action="edge:heartbeat")[0].outcome == "denied"


def test_given_a_bad_heartbeat_when_posted_then_400_names_the_field(client, edge_key):
    response = client.post(HEARTBEAT_PATH, json=_heartbeat(fps=-1), headers=edge_key)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_heartbeat" and response.json()["field"] == "fps"


def test_given_the_lazy_app_mounted_under_a_prefix_when_a_heartbeat_arrives_then_it_routes(
    harness, tmp_path, edge_key
):
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from serving.edge_api import LazyEdgeApp

    stores = resolve_stores({"SENIM_HOME": str(tmp_path / "home"), "SENIM_WORKSPACE": "."})
    lazy = LazyEdgeApp(lambda: harness.runtime, stores, "fer-emotion")
    service = Starlette(routes=[Mount("/v1/edge", app=lazy)])
    client = TestClient(
        AuthMiddleware(service, runtime=harness.runtime, required=EDGE_REQUIRED_PERMISSIONS)
    )

    response = client.post(HEARTBEAT_PATH, json=_heartbeat(), headers=edge_key)

    assert response.status_code == 204


def test_given_hosts_that_reported_when_an_admin_lists_them_then_state_model_and_events(
    harness, client, edge_key
):
    """The server-side view of the fleet (issue 15): GET /v1/edge/hosts, admins only."""
    admin = harness.enrolled_admin()
    assert client.post(HEARTBEAT_PATH, json=_heartbeat(), headers=edge_key).status_code == 204
    assert _post_event(client, edge_key, _event()).status_code == 201

    listed = client.get("/v1/edge/hosts", headers=admin.auth)
    refused = client.get("/v1/edge/hosts", headers=edge_key)

    assert listed.status_code == 200, listed.text
    (host,) = listed.json()["hosts"]
    assert host["host_id"] == HOST and host["online"] is True
    assert host["model_version"] == _heartbeat()["model_version"]
    assert host["events_last_day"] == 1 and len(host["recent_events"]) == 1
    assert refused.status_code == 403
    harness.clock.advance(seconds=3600)
    harness.sign_in(admin)  # the first access token has expired meanwhile
    (later,) = client.get("/v1/edge/hosts", headers=admin.auth).json()["hosts"]
    assert later["online"] is False  # no heartbeat for an hour: offline
