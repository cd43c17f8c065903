"""The auth layer protecting another service: ``AuthMiddleware`` on ``/v1/*``,
``require_permission`` as a FastAPI dependency, and ``GuardMiddleware`` at the ASGI level."""

# No ``from __future__ import annotations``: the routes below depend on local objects,
# which FastAPI cannot resolve from string annotations.

import asyncio
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient

from auth.asgi import AuthMiddleware, GuardMiddleware
from auth.errors import AuthError, AuthUnavailable
from auth.fastapi_deps import auth_error_handler, require_permission
from auth.permissions import Permission
from auth.principals import Principal
from tests.auth.http_harness import AuthHarness


def scoring_service(harness: AuthHarness, *, with_middleware: bool = True):
    """A stand-in model service: public /livez, protected /v1/*; counts handler calls."""
    runtime = harness.runtime
    app = FastAPI()
    app.add_exception_handler(AuthError, auth_error_handler)
    app.state.calls = 0
    may_score = require_permission(runtime, Permission.SCORE, trusted_proxies=())
    may_promote = require_permission(runtime, Permission.PROMOTE_MODEL, trusted_proxies=())

    @app.get("/livez")
    def livez() -> dict:
        return {"status": "ok"}

    @app.get("/v1/whoami")
    def whoami(request: Request) -> dict:
        app.state.calls += 1
        principal = request.scope["state"]["principal"]
        return {"kind": principal.kind, "label": principal.label, "roles": list(principal.roles)}

    @app.post("/v1/score")
    def score(caller: Annotated[Principal, Depends(may_score)]) -> dict:
        app.state.calls += 1
        return {"scored_by": caller.label}

    @app.post("/v1/promote")
    def promote(caller: Annotated[Principal, Depends(may_promote)]) -> dict:
        app.state.calls += 1
        return {"promoted_by": caller.label}

    if with_middleware:
        app.add_middleware(AuthMiddleware, runtime=runtime, protected_prefixes=("/v1/",))
    return app


def _service_key(harness: AuthHarness, admin, role: str = "service") -> dict[str, str]:
    created = harness.http.post(
        "/auth/keys", json={"name": f"{role}-key", "role": role}, headers=admin.auth
    )
    return {"X-API-Key": created.json()["key"]}


@pytest.fixture()
def admin(auth: AuthHarness):
    return auth.enrolled_admin()


def test_given_no_credentials_when_calling_v1_then_401_json_and_the_handler_never_runs(auth):
    app = scoring_service(auth)
    client = TestClient(app)

    public = client.get("/livez")
    refused = client.get("/v1/whoami")

    assert public.status_code == 200
    assert refused.status_code == 401
    assert refused.json()["error"] == "not_authenticated"
    assert refused.headers["www-authenticate"] == "Bearer"
    assert app.state.calls == 0


def test_given_a_service_key_when_calling_v1_then_the_principal_is_in_the_scope_state(auth, admin):
    client = TestClient(scoring_service(auth))

    response = client.get("/v1/whoami", headers=_service_key(auth, admin))

    body = response.json()
    assert response.status_code == 200
    assert body["kind"] == "api_key" and body["roles"] == ["service"]
    assert body["label"].startswith("key:")


def test_given_role_permissions_when_calling_guarded_routes_then_only_permitted_calls_pass(
    auth, admin
):
    client = TestClient(scoring_service(auth))
    reviewer = auth.enrolled_user(admin, "rev-rita", ["reviewer"])
    service = _service_key(auth, admin)

    assert client.post("/v1/score", headers=service).status_code == 200
    denied = client.post("/v1/promote", headers=service)
    assert denied.status_code == 403 and denied.json()["error"] == "forbidden"
    assert client.post("/v1/promote", headers=reviewer.auth).status_code == 200
    assert client.post("/v1/score", headers=reviewer.auth).status_code == 403
    rows = auth.audit(action="authorize:promote_model", outcome="denied")
    assert len(rows) == 1 and rows[0].resource == "/v1/promote"


def test_given_an_admin_without_2fa_when_calling_a_guarded_route_then_enrollment_is_demanded(
    auth,
):
    client = TestClient(scoring_service(auth))
    admin = auth.bootstrap_admin()
    admin.access_token = auth.login(admin).json()["access_token"]

    response = client.post("/v1/score", headers=admin.auth)

    assert response.status_code == 403
    assert response.json()["error"] == "2fa_enrollment_required"


def test_given_no_middleware_when_the_dependency_runs_then_it_authenticates_the_headers_itself(
    auth, admin
):
    client = TestClient(scoring_service(auth, with_middleware=False))

    anonymous = client.post("/v1/score")
    keyed = client.post("/v1/score", headers=_service_key(auth, admin))

    assert anonymous.status_code == 401 and anonymous.json()["error"] == "not_authenticated"
    assert keyed.status_code == 200 and keyed.json()["scored_by"].startswith("key:")


def test_given_a_busy_key_when_its_burst_is_spent_then_the_middleware_answers_429(make_auth):
    harness = make_auth(api_key_rate={"burst": 2, "per_minute": 60})
    admin = harness.enrolled_admin()
    client = TestClient(scoring_service(harness))
    key = _service_key(harness, admin)

    answers = [client.get("/v1/whoami", headers=key) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[-1].json()["error"] == "rate_limited"
    assert answers[-1].headers["retry-after"] == "1"


def test_given_a_revoked_token_when_calling_v1_then_401_at_once(auth, admin):
    client = TestClient(scoring_service(auth))
    auth.http.post("/auth/logout", headers=admin.auth)

    response = client.get("/v1/whoami", headers=admin.auth)

    assert response.status_code == 401 and response.json()["error"] == "token_invalid"


# --- GuardMiddleware, at the ASGI level ------------------------------------------------


class _Recorder:
    """An ASGI app that reads the whole body and answers 200 with its length."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope, receive, send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(len(body)).encode()})


def _call(app, chunks: list[bytes], headers: list[tuple[bytes, bytes]] = ()) -> list[dict]:
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": list(headers)}
    asyncio.run(app(scope, receive, send))
    return sent


def test_given_a_streamed_body_over_the_limit_when_guarded_then_413_and_the_app_never_runs():
    inner = _Recorder()
    guard = GuardMiddleware(inner, max_body_bytes=1024)

    sent = _call(guard, [b"x" * 600, b"x" * 600, b"x" * 600])

    assert sent[0]["status"] == 413
    assert b"payload_too_large" in sent[1]["body"]
    assert inner.bodies == []


def test_given_a_streamed_body_within_the_limit_when_guarded_then_the_app_gets_all_of_it():
    inner = _Recorder()
    guard = GuardMiddleware(inner, max_body_bytes=1024)

    sent = _call(guard, [b"a" * 500, b"b" * 500, b"c" * 24])

    assert sent[0]["status"] == 200 and sent[1]["body"] == b"1024"
    assert inner.bodies == [b"a" * 500 + b"b" * 500 + b"c" * 24]
    headers = dict(sent[0]["headers"])
    assert headers[b"cache-control"] == b"no-store" and headers[b"x-request-id"]


def test_given_a_pickle_content_type_when_guarded_then_415_and_the_app_never_runs():
    inner = _Recorder()
    guard = GuardMiddleware(inner, max_body_bytes=1024)

    sent = _call(guard, [b"\x80\x04."], [(b"content-type", b"application/vnd.bentoml+pickle")])

    assert sent[0]["status"] == 415 and inner.bodies == []


# --- AuthMiddleware: permissions by path prefix, and a runtime built later ---------------

REQUIRED = (
    ("/v1/credit/", Permission.SCORE),
    ("/v1/credit/admin", Permission.MANAGE_USERS),  # shadowed: the prefix above wins
    ("/v1/promote", Permission.PROMOTE_MODEL),
)


def _guarded_echo(runtime, required=REQUIRED):
    """An app behind AuthMiddleware alone: echoes the principal it finds in the scope."""
    app = FastAPI()
    app.state.calls = 0

    @app.api_route("/v1/{rest:path}", methods=["GET", "POST"])
    def echo(request: Request) -> dict:
        app.state.calls += 1
        principal = request.scope["state"]["principal"]
        return {"label": principal.label, "roles": list(principal.roles)}

    app.add_middleware(AuthMiddleware, runtime=runtime, required=required)
    return app


def test_given_a_key_without_the_prefix_permission_when_calling_then_403_and_an_audited_denial(
    auth, admin
):
    """The middleware itself enforces the route's permission, before the handler runs."""
    app = _guarded_echo(auth.runtime)
    client = TestClient(app)

    denied = client.post("/v1/promote", headers=_service_key(auth, admin))

    assert denied.status_code == 403 and denied.json()["error"] == "forbidden"
    assert "www-authenticate" not in denied.headers
    assert app.state.calls == 0
    rows = auth.audit(action="authorize:promote_model", outcome="denied")
    assert len(rows) == 1 and rows[0].resource == "/v1/promote"
    assert rows[0].actor.startswith("key:")


def test_given_a_role_with_the_prefix_permission_when_calling_then_the_principal_is_in_the_scope(
    auth, admin
):
    client = TestClient(_guarded_echo(auth.runtime))
    reviewer = auth.enrolled_user(admin, "rev-rhea", ["reviewer"])

    service = client.post("/v1/credit/score", headers=_service_key(auth, admin))
    promoted = client.post("/v1/promote", headers=reviewer.auth)

    assert service.status_code == 200 and service.json()["roles"] == ["service"]
    assert promoted.status_code == 200 and promoted.json()["label"] == reviewer.user_id
    assert client.post("/v1/credit/score", headers=reviewer.auth).status_code == 403


def test_given_overlapping_prefixes_when_calling_then_the_first_match_decides(auth, admin):
    """/v1/credit/admin matches /v1/credit/ first, so SCORE is enough there."""
    client = TestClient(_guarded_echo(auth.runtime))

    response = client.get("/v1/credit/admin/users", headers=_service_key(auth, admin))

    assert response.status_code == 200
    assert auth.audit(outcome="denied") == []


def test_given_a_path_matching_no_required_prefix_when_calling_then_any_valid_caller_passes(
    auth, admin
):
    """Protected but unlisted paths need authentication only, not a permission."""
    client = TestClient(_guarded_echo(auth.runtime))
    edge = _service_key(auth, admin, role="edge_device")  # holds neither SCORE nor READ_MODELS

    allowed = client.get("/v1/models", headers=edge)
    anonymous = client.get("/v1/models")

    assert allowed.status_code == 200 and allowed.json()["roles"] == ["edge_device"]
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "not_authenticated"


def test_given_a_runtime_callable_when_calling_then_it_is_asked_on_each_request(auth, admin):
    """Servers that build the runtime after the middleware stack pass a zero-arg callable."""
    asked: list[int] = []

    def runtime():
        asked.append(1)
        return auth.runtime

    client = TestClient(_guarded_echo(runtime))
    key = _service_key(auth, admin)

    assert client.post("/v1/credit/score", headers=key).status_code == 200
    assert client.post("/v1/promote", headers=key).status_code == 403
    assert len(asked) == 2


def test_given_a_runtime_not_ready_when_calling_then_503_auth_unavailable_json():
    """While the service is still starting, callers are told to retry, not that they
    failed to authenticate; the handler never runs."""

    def not_ready():
        raise AuthUnavailable()

    app = _guarded_echo(not_ready)
    client = TestClient(app)

    response = client.post("/v1/credit/score", headers={"X-API-Key": "sk_anything"})

    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "auth_unavailable" and body["message"]
    assert response.headers["content-type"] == "application/json"
    assert "www-authenticate" not in response.headers
    assert app.state.calls == 0
