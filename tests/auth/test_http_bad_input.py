"""Hostile and malformed requests: always a 4xx JSON body with a stable ``error`` code,
never a 500 and never a stack trace, on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest

from tests.auth.http_harness import AuthHarness

LOGIN = "/auth/login"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def assert_error(response, status: int, code: str, case: str = "") -> dict:
    """A JSON error with ``status`` and ``code``, and nothing that looks like a trace."""
    assert response.status_code == status, f"{case}: {response.text}"
    assert response.headers["content-type"].startswith("application/json"), case
    assert "Traceback" not in response.text and 'File "' not in response.text, case
    body = response.json()
    assert body["error"] == code and isinstance(body["message"], str), f"{case}: {body}"
    return body


@pytest.fixture()
def admin(auth: AuthHarness):
    return auth.enrolled_admin()


def _claims(auth: AuthHarness, admin, **changes) -> dict:
    now = int(auth.clock.now().timestamp())
    return {
        "iss": "senim",
        "aud": "senim-api",
        "sub": admin.user_id,
        "roles": ["admin"],
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "jti": "f" * 32,
        "typ": "access",
        "mfa": True,
    } | changes


# --- bodies ------------------------------------------------------------------------------


MALFORMED_JSON = {
    "truncated": '{"username": "a", "password": ',
    "not-json": "not json at all",
    "array": "[]",
    "null": "null",
    "empty": "",
    "duplicate-key-wrong-type": '{"username": "a", "password": "b", "password": 1}',
}


def test_given_malformed_json_bodies_when_logging_in_then_422_invalid_request(auth):
    for case, content in MALFORMED_JSON.items():
        response = auth.http.post(
            LOGIN, content=content, headers={"Content-Type": "application/json"}
        )
        assert_error(response, 422, "invalid_request", case)


BAD_LOGIN_BODIES = {
    "int-username": {"username": 123, "password": "x" * 12},
    "list-username": {"username": ["root-admin"], "password": "x" * 12},
    "operator-object": {"username": "root-admin", "password": {"$ne": None}},
    "bool-password": {"username": "root-admin", "password": True},
    "missing-password": {"username": "root-admin"},
    "extra-field": {"username": "root-admin", "password": "x" * 12, "is_admin": True},
    "long-username": {"username": "r" * 151, "password": "x" * 12},
    "long-password": {"username": "root-admin", "password": "x" * 1025},
    "long-totp": {"username": "root-admin", "password": "x" * 12, "totp_code": "1" * 17},
    "nul-in-username": {"username": "root\x00admin", "password": "x" * 12},
    "newline-in-username": {"username": "root-admin\n", "password": "x" * 12},
}


def test_given_badly_typed_or_oversized_fields_when_logging_in_then_422_naming_the_field(auth):
    for case, body in BAD_LOGIN_BODIES.items():
        fields = assert_error(auth.http.post(LOGIN, json=body), 422, "invalid_request", case)
        assert fields["fields"] and all(f["field"] for f in fields["fields"]), case


def test_given_bad_fields_when_registering_or_creating_keys_then_422_and_nothing_is_stored(
    auth, admin
):
    bad = [
        ("/auth/register", {"username": "ok-name", "password": "x" * 16, "roles": "admin"}),
        ("/auth/register", {"username": "ok-name", "password": "x" * 16, "roles": []}),
        ("/auth/register", {"username": "ok\x00name", "password": "x" * 16, "roles": ["admin"]}),
        ("/auth/keys", {"name": "svc", "role": "service", "expires_in_days": 10**30}),
        ("/auth/keys", {"name": "svc", "role": "service", "expires_in_days": "ten"}),
        ("/auth/keys", {"name": "svc\x00", "role": "service"}),
        ("/auth/keys", {"name": "svc", "role": "service", "scopes": ["a\x07"]}),
        ("/auth/keys", {"name": "", "role": "service"}),
        ("/auth/totp/confirm", {"code": 123456}),
        ("/auth/token/refresh", {"refresh_token": "x" * 513}),
    ]
    for path, body in bad:
        assert_error(auth.http.post(path, json=body, headers=admin.auth), 422, "invalid_request")
    assert auth.http.get("/auth/keys", headers=admin.auth).json() == []


def test_given_policy_violations_when_registering_then_400_with_a_named_rule(auth, admin):
    weak = auth.http.post(
        "/auth/register",
        json={"username": "new-user", "password": "short", "roles": ["reviewer"]},
        headers=admin.auth,
    )
    unknown_role = auth.http.post(
        "/auth/register",
        json={"username": "new-user", "password": "orbit-lantern-velvet-43", "roles": ["root"]},
        headers=admin.auth,
    )

    assert "at least 12" in assert_error(weak, 400, "weak_password")["message"]
    assert "root" in assert_error(unknown_role, 400, "bad_request")["message"]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_given_a_body_over_the_limit_when_posted_then_413_payload_too_large(auth, chunked):
    limit = auth.runtime.params.max_body_bytes
    payload = json.dumps({"username": "a", "password": "p" * (limit + 10)}).encode()
    content = iter([payload[: limit // 2], payload[limit // 2 :]]) if chunked else payload

    response = auth.http.post(LOGIN, content=content, headers={"Content-Type": "application/json"})

    assert_error(response, 413, "payload_too_large")
    assert response.headers["x-request-id"]


def test_given_a_small_content_length_when_the_body_is_larger_then_413(auth):
    limit = auth.runtime.params.max_body_bytes
    response = auth.http.post(
        LOGIN,
        content=b"{" + b" " * (limit + 1) + b"}",
        headers={"Content-Type": "application/json", "Content-Length": "10"},
    )

    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize(
    "content_type",
    ["application/vnd.bentoml+pickle", "Application/VND.BentoML+Pickle; charset=binary"],
)
def test_given_a_pickle_content_type_when_posted_then_415_before_any_parsing(auth, content_type):
    response = auth.http.post(
        LOGIN, content=b"\x80\x04K\x01.", headers={"Content-Type": content_type}
    )

    assert_error(response, 415, "unsupported_media_type")


def test_given_a_form_body_when_logging_in_then_422(auth):
    response = auth.http.post(LOGIN, data={"username": "a", "password": "b"})

    assert_error(response, 422, "invalid_request")


def test_given_unknown_routes_and_methods_then_json_404_and_405(auth):
    assert_error(auth.http.get("/auth/nope"), 404, "not_found")
    assert_error(auth.http.get(LOGIN), 405, "method_not_allowed")


# --- credentials -------------------------------------------------------------------------


BAD_CREDENTIALS = {
    "none": ({}, "not_authenticated"),
    "empty": ({"Authorization": ""}, "not_authenticated"),
    "bearer-alone": ({"Authorization": "Bearer"}, "not_authenticated"),
    "bearer-blank": ({"Authorization": "Bearer    "}, "not_authenticated"),
    "basic": ({"Authorization": "Basic cm9vdDpyb290"}, "not_authenticated"),
    "other-scheme": ({"Authorization": "Token abc"}, "not_authenticated"),
    "garbage": ({"Authorization": "Bearer garbage"}, "token_invalid"),
    "three-dots": ({"Authorization": "Bearer a.b.c"}, "token_invalid"),
    "huge": ({"Authorization": "Bearer " + "A" * 5000}, "token_invalid"),
    "malformed-key": ({"X-API-Key": "snm_short_key"}, "token_invalid"),
    "unknown-key": ({"X-API-Key": "snm_abcdefgh_" + "A" * 43}, "token_invalid"),
}


def test_given_missing_or_malformed_credentials_when_calling_me_then_401(auth):
    for case, (headers, code) in BAD_CREDENTIALS.items():
        response = auth.http.get("/auth/me", headers=headers)
        assert_error(response, 401, code, case)
        assert response.headers["www-authenticate"] == "Bearer", case


def test_given_an_access_token_past_its_lifetime_when_used_then_401_token_expired(auth, admin):
    auth.clock.advance(minutes=15, seconds=6)  # lifetime plus the 5 s leeway

    assert_error(auth.http.get("/auth/me", headers=admin.auth), 401, "token_expired")


def test_given_a_tampered_token_when_used_then_401_token_invalid(auth, admin):
    header, payload, signature = admin.access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = ".".join([header, _b64(claims | {"roles": ["admin", "reviewer"]}), signature])

    response = auth.http.get("/auth/me", headers={"Authorization": f"Bearer {forged}"})

    assert_error(response, 401, "token_invalid")


WRONG_CLAIMS = {
    "audience": {"aud": "another-service"},
    "issuer": {"iss": "someone-else"},
    "type": {"typ": "refresh"},
    "string-iat": {"iat": "yesterday"},
    "string-roles": {"roles": "admin"},
    "empty-subject": {"sub": ""},
}


def test_given_correctly_signed_tokens_with_wrong_claims_when_used_then_401(auth, admin):
    for case, change in WRONG_CLAIMS.items():
        token = jwt.encode(
            _claims(auth, admin, **change), auth.runtime.tokens.signing_key, algorithm="HS256"
        )
        response = auth.http.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert_error(response, 401, "token_invalid", case)


def test_given_a_token_issued_in_the_future_when_used_then_401(auth, admin):
    later = int((auth.clock.now() + timedelta(minutes=5)).timestamp())
    token = jwt.encode(
        _claims(auth, admin, iat=later, nbf=later, exp=later + 900),
        auth.runtime.tokens.signing_key,
        algorithm="HS256",
    )

    response = auth.http.get("/auth/me", headers={"Authorization": f"Bearer {token}"})

    assert_error(response, 401, "token_invalid")


def test_given_an_alg_none_token_when_used_then_401(auth, admin):
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(auth, admin))}."

    response = auth.http.get("/auth/keys", headers={"Authorization": f"Bearer {unsigned}"})

    assert_error(response, 401, "token_invalid")


def test_given_a_token_signed_with_another_key_when_used_then_401(auth, admin):
    token = jwt.encode(_claims(auth, admin), "another-secret-" * 4, algorithm="HS256")

    response = auth.http.get("/auth/keys", headers={"Authorization": f"Bearer {token}"})

    assert_error(response, 401, "token_invalid")


def test_given_garbage_refresh_tokens_when_refreshing_then_401_token_invalid(auth):
    for token in ["x", "A" * 512, "'; DROP TABLE refresh_tokens; --"]:
        response = auth.http.post("/auth/token/refresh", json={"refresh_token": token})
        assert_error(response, 401, "token_invalid")


# --- audit filters -----------------------------------------------------------------------


BAD_AUDIT_FILTERS = {
    "naive": {"since": "2026-03-02T09:00:00"},  # no UTC offset: ambiguous
    "underflow": {"since": "0001-01-01T00:00:00+05:00"},  # before year 1 once in UTC
    "garbage": {"until": "not-a-date"},
    "huge-id": {"before_id": str(2**70)},
    "zero-limit": {"limit": "0"},
    "big-limit": {"limit": "1001"},
    "outcome": {"outcome": "everything"},
    "nul": {"actor": "a\x00b"},
}


def test_given_bad_audit_filters_when_reading_the_audit_log_then_422(auth, admin):
    for case, params in BAD_AUDIT_FILTERS.items():
        response = auth.http.get("/auth/audit", params=params, headers=admin.auth)
        assert_error(response, 422, "invalid_request", case)


# --- identical answers -------------------------------------------------------------------


@pytest.mark.parametrize(
    "password", ["x" * 12, "orbit-lantern-velvet-4", "ORBIT-LANTERN-VELVET-42"]
)
def test_given_existing_and_unknown_users_when_the_password_is_wrong_then_answers_match(
    auth, admin, password
):
    existing = auth.http.post(LOGIN, json={"username": admin.username, "password": password})
    unknown = auth.http.post(LOGIN, json={"username": "no-such-admin", "password": password})

    assert existing.status_code == unknown.status_code == 401
    assert existing.content == unknown.content
    ignore = {"x-request-id", "content-length"}
    assert {k: v for k, v in existing.headers.items() if k not in ignore} == {
        k: v for k, v in unknown.headers.items() if k not in ignore
    }


def test_given_a_client_request_id_when_it_is_unsafe_then_a_fresh_one_is_used(auth):
    safe = auth.http.get("/auth/me", headers={"X-Request-ID": "trace-123.abc"})
    unsafe = auth.http.get("/auth/me", headers={"X-Request-ID": "<script>alert(1)</script>"})

    assert safe.headers["x-request-id"] == "trace-123.abc"
    assert (
        unsafe.headers["x-request-id"].isalnum() and "script" not in unsafe.headers["x-request-id"]
    )
