"""The black-box findings of the security review, each replayed over real HTTP against a
running credit service (`senim deploy credit` then `senim serve credit`), and refused now.

One server for the module, with its own SENIM_HOME; every attack names its finding.
"""

from __future__ import annotations

import stat
import time
import uuid

import httpx
import pyotp
import pytest

from auth import accounts, machine_keys
from tests.serving.credit_server import PASSWORD, TEST_META, deployed_credit_service

pytestmark = pytest.mark.integration

LOGINS_PER_IP = 60


@pytest.fixture(scope="module")
def service(_trained_store_session, tmp_path_factory):
    with deployed_credit_service(
        _trained_store_session["root"],
        tmp_path_factory.mktemp("security"),
        auth={
            "argon2_time_cost": 1,
            "argon2_memory_kib": 19456,
            # Every test signs in from 127.0.0.1: room for the module, but a limit the
            # forwarded-for test can still run into.
            "login_rate_per_ip": {"burst": LOGINS_PER_IP, "per_minute": 30},
            "login_rate_per_identity": {"burst": 20, "per_minute": 60},
        },
    ) as running:
        yield running


@pytest.fixture(scope="module")
def application(_trained_store_session) -> dict:
    import math

    import pandas as pd

    snapshot = pd.read_csv(_trained_store_session["workspace"] / "data/credit/snapshot.csv")
    row = snapshot.drop(columns=["Rating"]).iloc[0].to_dict()
    return {k: v for k, v in row.items() if not (isinstance(v, float) and math.isnan(v))}


def _url(service, path: str) -> str:
    return service["url"] + path


def _count(callers, sql: str, **params) -> int:
    """A count from the server's audit log, once everything queued is written (audit rows
    of the server process are in the database as soon as it wrote them; a short wait
    covers its batch window)."""
    import sqlalchemy as sa

    time.sleep(0.3)
    with callers.runtime.sessions() as session:
        return session.scalar(sa.text(sql), params)


class Person:
    """A user signed in over HTTP with password and TOTP (enrolled over HTTP too)."""

    def __init__(self, service, username: str, roles: list[str]) -> None:
        callers = service["callers"]
        self.service = service
        self.username = username
        self.user = accounts.create_user(
            callers.runtime, username, PASSWORD, roles, TEST_META,
            actor_id=callers.admin.id, actor_roles=("admin",),
        )  # fmt: skip
        first = self.login()
        assert first.status_code == 200, first.text
        bearer = {"Authorization": f"Bearer {first.json()['access_token']}"}
        enrolled = httpx.post(_url(service, "/auth/totp/enroll"), headers=bearer)
        self.totp = pyotp.TOTP(pyotp.parse_uri(enrolled.json()["otpauth_uri"]).secret)
        self.last_step = int(time.time() // 30) - 1
        confirmed = httpx.post(
            _url(service, "/auth/totp/confirm"), json={"code": self.code()}, headers=bearer
        )
        assert confirmed.status_code == 200, confirmed.text
        self.tokens = confirmed.json()

    def code(self) -> str:
        """A TOTP code whose step was not used yet (codes cannot be replayed)."""
        step = max(int(time.time() // 30), self.last_step + 1)
        self.last_step = step
        return self.totp.at(step * 30)

    def login(self, password: str = PASSWORD, user_agent: str = "pytest", **extra):
        return httpx.post(
            _url(self.service, "/auth/login"),
            json={"username": self.username, "password": password, **extra},
            headers={"User-Agent": user_agent},
        )

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}


# --- 1. refresh-token reuse ends the family's access tokens; keys need a fresh sign-in --


def test_given_a_replayed_refresh_token_when_its_access_tokens_are_used_then_all_refused(service):
    admin = Person(service, f"adm-{uuid.uuid4().hex[:6]}", ["admin"])
    at0, rt0 = admin.tokens["access_token"], admin.tokens["refresh_token"]
    rotated = httpx.post(_url(service, "/auth/token/refresh"), json={"refresh_token": rt0})
    at1 = rotated.json()["access_token"]

    replay = httpx.post(_url(service, "/auth/token/refresh"), json={"refresh_token": rt0})

    assert replay.status_code == 401
    for token in (at0, at1):
        bearer = {"Authorization": f"Bearer {token}"}
        assert httpx.get(_url(service, "/auth/me"), headers=bearer).status_code == 401
        minted = httpx.post(
            _url(service, "/auth/keys"), json={"name": "x", "role": "service"}, headers=bearer
        )
        assert minted.status_code == 401


def test_given_a_session_kept_alive_by_refresh_when_minting_a_key_then_fresh_sign_in_needed(
    service,
):
    admin = Person(service, f"adm-{uuid.uuid4().hex[:6]}", ["admin"])
    callers = service["callers"]
    from auth.tokens import issue_access_token

    an_hour_ago = int(time.time()) - 3600
    old_session = issue_access_token(
        callers.runtime.tokens, subject=admin.user.id, roles=["admin"],
        now=callers.runtime.now(), extra={"mfa": True, "auth_time": an_hour_ago},
    ).token  # fmt: skip
    bearer = {"Authorization": f"Bearer {old_session}"}

    stale = httpx.post(
        _url(service, "/auth/keys"), json={"name": "x", "role": "service"}, headers=bearer
    )
    admin_key = httpx.post(
        _url(service, "/auth/keys"), json={"name": "x", "role": "admin"}, headers=admin.bearer
    )
    fresh = httpx.post(
        _url(service, "/auth/keys"), json={"name": "x", "role": "service"}, headers=admin.bearer
    )

    assert stale.status_code == 403 and stale.json()["error"] == "fresh_sign_in_required"
    assert admin_key.status_code == 403 and "machines" in admin_key.json()["message"]
    assert fresh.status_code == 201


# --- 2. keys minted by a user die with the account ---------------------------------------


def test_given_a_disabled_engineer_when_their_minted_key_scores_then_401(service, application):
    callers = service["callers"]
    engineer = accounts.create_user(
        callers.runtime, f"eng-{uuid.uuid4().hex[:6]}", PASSWORD, ["ml_engineer"], TEST_META,
        actor_id=callers.admin.id, actor_roles=("admin",),
    )  # fmt: skip
    minted = machine_keys.create_key(
        callers.runtime, "their-service", "service", TEST_META,
        actor_id=engineer.id, actor_roles=("ml_engineer",),
    )  # fmt: skip
    headers = {"X-API-Key": minted.key}
    before = httpx.post(_url(service, "/v1/credit/score"), json=application, headers=headers)
    assert before.status_code == 200

    accounts.disable_user(callers.runtime, engineer.id, TEST_META, actor_id="cli:admin")
    time.sleep(callers.runtime.params.api_key_cache_seconds + 0.2)  # the server's key cache

    after = httpx.post(_url(service, "/v1/credit/score"), json=application, headers=headers)
    assert after.status_code == 401
    revoked = _count(
        callers,
        "SELECT count(*) FROM audit_log WHERE action = 'api_key:revoke' AND resource = :key",
        key=f"key:{minted.view.prefix}",
    )
    assert revoked == 1


# --- 3. a host name belongs to its enrolled key -----------------------------------------


def test_given_an_enrolled_host_when_another_key_is_minted_for_it_then_409(service):
    engineer = Person(service, f"eng-{uuid.uuid4().hex[:6]}", ["ml_engineer"])
    host = f"cam-{uuid.uuid4().hex[:6]}"
    body = {"name": host, "role": "edge_device"}

    first = httpx.post(_url(service, "/auth/keys"), json=body, headers=engineer.bearer)
    second = httpx.post(_url(service, "/auth/keys"), json=body, headers=engineer.bearer)
    by_engineer = httpx.post(
        _url(service, "/auth/keys"), json={**body, "re_enrol": True}, headers=engineer.bearer
    )

    assert first.status_code == 201
    assert second.status_code == 409 and host in second.json()["message"]
    assert by_engineer.status_code == 403


# --- 5. failures anyone can cause never outweigh a correct TOTP ---------------------------


def test_given_wrong_passwords_before_each_sign_in_when_the_owner_uses_totp_then_in(service):
    """(Rounds repeated hour after hour: tests/auth/test_http_flows.py, on a frozen clock.)"""
    reviewer = Person(service, f"rev-{uuid.uuid4().hex[:6]}", ["reviewer"])
    for _ in range(4):  # under the lockout threshold (5)
        assert reviewer.login("not-the-password!").status_code == 401
    answer = reviewer.login(user_agent="NewDevice/1", totp_code=reviewer.code())
    assert answer.status_code == 200, answer.text


# --- 6. /metrics labels by route, so junk paths do not grow it ----------------------------


def test_given_a_thousand_unknown_paths_when_metrics_read_then_it_barely_grows(service):
    before = len(httpx.get(_url(service, "/metrics")).content)
    with httpx.Client() as client:
        for n in range(300):
            client.get(_url(service, f"/no-such-{uuid.uuid4().hex}-{n}"))
            client.get(_url(service, f"/v1/credit/{uuid.uuid4().hex}"))
    after = httpx.get(_url(service, "/metrics")).text
    assert len(after) - before < 20_000, len(after) - before
    assert 'endpoint="unmatched"' in after and "no-such-" not in after


# --- 7. common passwords are refused -------------------------------------------------------


@pytest.mark.parametrize(
    "password", ["password1234", "123456789012", "qwertyuiop12", "passwordpassword", "aaaaaaaaaaaa"]
)
def test_given_a_common_policy_length_password_when_registering_then_400(service, password):
    admin = _admin(service)
    response = httpx.post(
        _url(service, "/auth/register"),
        json={"username": f"u-{uuid.uuid4().hex[:6]}", "password": password, "roles": ["service"]},
        headers=admin.bearer,
    )
    assert response.status_code == 400 and response.json()["error"] == "weak_password"


_ADMIN: list[Person] = []


def _admin(service) -> Person:
    if not _ADMIN:
        _ADMIN.append(Person(service, f"adm-{uuid.uuid4().hex[:6]}", ["admin"]))
    return _ADMIN[0]


# --- 8. hostile bodies are a fast 4xx, logged as one line ----------------------------------


def test_given_deeply_nested_json_when_scoring_then_a_fast_400(service):
    key = service["callers"].key()[0]
    started = time.monotonic()
    response = httpx.post(
        _url(service, "/v1/credit/score"),
        content=b"[" * 100_000,
        headers={"X-API-Key": key, "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400 and "nests deeper" in response.json()["message"]
    assert time.monotonic() - started < 5


def test_given_a_refused_application_when_logged_then_one_warning_without_the_values(
    service, application
):
    key = service["callers"].key()[0]
    marker = "sector-that-does-not-exist-" + uuid.uuid4().hex[:8]
    response = httpx.post(
        _url(service, "/v1/credit/score"),
        json={**application, "Sector": marker},
        headers={"X-API-Key": key},
    )
    assert response.status_code == 400
    time.sleep(0.5)
    log = service["server"].log()
    assert marker not in log  # the rejected value never reaches the log
    assert "refused /v1/credit/score" in log


# --- 9. security headers, and docs without a CDN --------------------------------------------


def test_given_any_response_then_it_carries_the_security_headers(service):
    for path in ("/livez", "/auth/me", "/v1/models", "/no-such-path"):
        headers = httpx.get(_url(service, path)).headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert headers["referrer-policy"] == "no-referrer", path


def test_given_the_auth_docs_then_every_asset_is_served_here(service):
    import re

    page = httpx.get(_url(service, "/auth/docs"))
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and not [s for s in sources if "://" in s or s.startswith("//")]
    for source in sources:
        assert httpx.get(_url(service, source)).status_code == 200, source
    assert "script-src" not in page.headers["content-security-policy"]  # 'self' only


# --- 10. the databases are private to their user --------------------------------------------


def test_given_a_running_service_then_senim_home_and_its_databases_are_private(service):
    home = service["stores"].home
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for name in ("senim.db", "senim.db-wal"):
        path = home / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, name


# --- 12. smaller findings -----------------------------------------------------------------


def test_given_an_engineer_when_listing_keys_then_only_their_own(service):
    engineer = Person(service, f"eng-{uuid.uuid4().hex[:6]}", ["ml_engineer"])
    service["callers"].key(name="someone-elses")
    mine = httpx.post(
        _url(service, "/auth/keys"), json={"name": "mine", "role": "service"},
        headers=engineer.bearer,
    )  # fmt: skip
    listed = httpx.get(_url(service, "/auth/keys"), headers=engineer.bearer).json()
    assert [k["prefix"] for k in listed] == [mine.json()["prefix"]]


def test_given_a_good_key_beside_a_bad_bearer_token_when_scoring_then_401(service, application):
    key = service["callers"].key()[0]
    response = httpx.post(
        _url(service, "/v1/credit/score"),
        json=application,
        headers={"X-API-Key": key, "Authorization": "Bearer not-a-token"},
    )
    assert response.status_code == 401


# --- 4. X-Forwarded-For is believed only from SENIM_TRUSTED_PROXIES (last: it spends
# the module's per-IP login budget) -------------------------------------------------------


def test_given_rotating_forwarded_for_headers_when_guessing_logins_then_rate_limited(service):
    answers = [
        httpx.post(
            _url(service, "/auth/login"),
            json={"username": f"nobody-{n}", "password": "wrong-password-x"},
            headers={"X-Forwarded-For": f"198.51.100.{n}"},
        ).status_code
        for n in range(LOGINS_PER_IP + 5)
    ]
    assert 429 in answers, answers  # one bucket for the real peer, whatever the header says
    callers = service["callers"]
    forged = _count(callers, "SELECT count(*) FROM audit_log WHERE client_ip LIKE '198.51.100.%'")
    assert forged == 0  # the audit log records the real peer, never the forged address
    assert _count(callers, "SELECT count(*) FROM audit_log WHERE action = 'rate_limited'") >= 1


# --- Schemathesis on the service's own API: no 5xx --------------------------------------


def test_given_generated_requests_to_the_scoring_routes_when_sent_then_no_server_errors(service):
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error

    key = service["callers"].key()[0]
    schema = schemathesis.openapi.from_url(_url(service, "/docs.json"))
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())
        if op.path.startswith("/v1/credit/")
    ]
    assert {op.path for op in operations} == {"/v1/credit/score", "/v1/credit/score_batch"}
    for operation in operations:
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @settings(max_examples=20, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(case=cases)
        def no_server_error(case) -> None:
            case.call_and_validate(
                base_url=service["url"], headers={"X-API-Key": key}, checks=[not_a_server_error]
            )

        no_server_error()


def test_given_the_service_docs_then_every_route_and_both_credentials_are_described(service):
    """/docs (issue 15): Swagger UI from local files, over one document holding BentoML's
    routes and the platform's, with X-API-Key and bearer declared for "Try it out"."""
    page = httpx.get(_url(service, "/docs"), follow_redirects=True)
    spec = httpx.get(_url(service, "/docs/openapi.json")).json()

    assert page.status_code == 200 and "swagger-ui" in page.text
    assert {"/v1/credit/score", "/v1/credit/score_batch", "/v1/models", "/auth/login",
            "/auth/keys"} <= set(spec["paths"])  # fmt: skip
    assert set(spec["components"]["securitySchemes"]) == {"ApiKey", "Bearer"}
    assert spec["paths"]["/v1/credit/score"]["post"]["security"] == [
        {"ApiKey": []}, {"Bearer": []}
    ]  # fmt: skip
    assert spec["paths"]["/auth/login"]["post"]["security"] == []
