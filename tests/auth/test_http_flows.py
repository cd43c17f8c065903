"""End-to-end flows through the real auth ASGI app, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from auth import accounts
from auth.models import LoginAttempt
from auth.runtime import RequestMeta
from tests.auth.http_harness import OFFICE_IP, PASSWORD, Account, AuthHarness

# Rate limits high enough that lockout, not the limiter, answers first.
ROOMY_RATES = {
    "login_rate_per_ip": {"burst": 100, "per_minute": 100},
    "login_rate_per_identity": {"burst": 100, "per_minute": 100},
}
ATTACKER_IP = "203.0.113.50"
ATTACKER_AGENT = "python-requests/2.32"


def _refresh(auth: AuthHarness, token: str):
    return auth.http.post("/auth/token/refresh", json={"refresh_token": token})


def _me(auth: AuthHarness, account: Account):
    return auth.http.get("/auth/me", headers=account.auth)


# --- first admin, 2FA enrollment -------------------------------------------------------


def test_given_a_bootstrapped_admin_when_logging_in_before_2fa_then_protected_actions_are_refused(
    auth,
):
    admin = auth.bootstrap_admin()

    response = auth.login(admin)

    assert response.status_code == 200
    body = response.json()
    assert body["mfa_enrolled"] is False and body["token_type"] == "Bearer"
    assert body["expires_in"] == 15 * 60
    admin.access_token = body["access_token"]
    for method, path, payload in [
        ("GET", "/auth/keys", None),
        ("POST", "/auth/keys", {"name": "svc", "role": "service"}),
        ("POST", "/auth/register", {"username": "eve", "password": PASSWORD, "roles": ["admin"]}),
        ("GET", "/auth/audit", None),
    ]:
        refused = auth.http.request(method, path, json=payload, headers=admin.auth)
        assert refused.status_code == 403, path
        assert refused.json()["error"] == "2fa_enrollment_required"
    me = _me(auth, admin).json()
    assert me["mfa_satisfied"] is False and me["roles"] == ["admin"]


def test_given_a_pending_enrollment_when_confirmed_then_recovery_codes_and_2fa_tokens_are_issued(
    auth,
):
    admin = auth.bootstrap_admin()
    auth.sign_in(admin)
    password_only = Account(**{**admin.__dict__})

    confirmed = auth.enroll(admin)

    assert len(confirmed["recovery_codes"]) == 10
    assert len(set(confirmed["recovery_codes"])) == 10
    assert confirmed["mfa_enrolled"] is True
    assert auth.http.get("/auth/keys", headers=admin.auth).status_code == 200
    # The password-only session ends with the enrollment: its refresh token is revoked,
    # so it can never be refreshed into a 2FA session, and with its family revoked its
    # access token stops working at once.
    still = auth.http.get("/auth/keys", headers=password_only.auth)
    assert still.status_code == 401 and still.json()["error"] == "token_invalid"
    assert _refresh(auth, password_only.refresh_token).status_code == 401
    assert accounts.get_user(auth.runtime, admin.user_id).totp_enrolled is True


def test_given_an_enrolled_admin_when_enrolling_again_then_the_confirmed_secret_is_kept(auth):
    admin = auth.enrolled_admin()

    response = auth.http.post("/auth/totp/enroll", headers=admin.auth)

    assert response.status_code == 400 and response.json()["error"] == "bad_request"
    auth.sign_in(admin)  # the original authenticator still works


# --- second factor at login ------------------------------------------------------------


def test_given_an_enrolled_admin_when_logging_in_then_a_totp_code_is_needed_and_works_once(auth):
    admin = auth.enrolled_admin()

    without = auth.login(admin)
    code = auth.next_code(admin)
    first = auth.login(admin, totp_code=code)
    replay = auth.login(admin, totp_code=code)
    wrong = auth.login(admin, totp_code="000000" if code != "000000" else "111111")

    assert without.status_code == 401 and without.json()["error"] == "totp_required"
    assert first.status_code == 200 and first.json()["mfa_enrolled"] is True
    assert replay.status_code == 401 and replay.json()["error"] == "totp_invalid"
    assert wrong.status_code == 401 and wrong.json()["error"] == "totp_invalid"


def test_given_recovery_codes_when_one_is_used_twice_then_only_the_first_use_signs_in(auth):
    admin = auth.enrolled_admin()
    first_code, second_code = admin.recovery_codes[:2]

    used = auth.login(admin, recovery_code=first_code)
    reused = auth.login(admin, recovery_code=first_code)
    retyped = auth.login(admin, recovery_code=second_code.replace("-", "").upper())

    assert used.status_code == 200 and used.json()["mfa_enrolled"] is True
    assert reused.status_code == 401 and reused.json()["error"] == "totp_invalid"
    assert retyped.status_code == 200


# --- password failures, lockout, rate limits -------------------------------------------


def test_given_a_wrong_password_or_an_unknown_user_when_logging_in_then_the_answers_are_identical(
    auth,
):
    admin = auth.enrolled_admin()

    wrong = auth.http.post("/auth/login", json={"username": admin.username, "password": "x" * 20})
    unknown = auth.http.post("/auth/login", json={"username": "nobody-here", "password": "x" * 20})

    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json()
        == unknown.json()
        == {
            "error": "invalid_credentials",
            "message": "Invalid username or password.",
        }
    )
    assert wrong.headers["www-authenticate"] == unknown.headers["www-authenticate"]


@pytest.mark.parametrize("who", ["existing", "unknown"])
def test_given_five_failed_logins_when_trying_again_then_locked_until_the_lock_expires(
    make_auth, who
):
    auth = make_auth(**ROOMY_RATES)
    admin = auth.enrolled_admin()
    name = admin.username if who == "existing" else "ghost-user"

    failures = [
        auth.http.post("/auth/login", json={"username": name, "password": "wrong-" * 4})
        for _ in range(5)
    ]
    locked = auth.http.post("/auth/login", json={"username": name, "password": admin.password})
    auth.clock.advance(59)
    still_locked = auth.http.post("/auth/login", json={"username": name, "password": "x" * 12})
    auth.clock.advance(2)
    after = (
        auth.login(admin, totp_code=auth.next_code(admin))
        if who == "existing"
        else (auth.http.post("/auth/login", json={"username": name, "password": "x" * 12}))
    )

    assert [r.status_code for r in failures] == [401] * 5
    assert locked.status_code == 423
    assert locked.json()["error"] == "account_locked" and locked.json()["retry_after"] == 60
    assert locked.headers["retry-after"] == "60"
    assert still_locked.status_code == 423 and still_locked.headers["retry-after"] == "1"
    assert after.status_code == (200 if who == "existing" else 401)


def test_given_an_existing_and_an_unknown_identity_when_both_are_locked_then_the_answers_match(
    make_auth,
):
    auth = make_auth(**ROOMY_RATES)
    admin = auth.enrolled_admin()
    answers = {}
    for name in (admin.username, "ghost-user"):
        for _ in range(5):
            auth.http.post("/auth/login", json={"username": name, "password": "wrong-" * 4})
        answers[name] = auth.http.post("/auth/login", json={"username": name, "password": "y" * 12})

    existing, unknown = answers[admin.username], answers["ghost-user"]
    assert existing.status_code == unknown.status_code == 423
    assert existing.json() == unknown.json()
    assert existing.headers["retry-after"] == unknown.headers["retry-after"]


def test_given_wrong_totp_codes_when_repeated_then_they_count_toward_lockout(make_auth):
    auth = make_auth(**ROOMY_RATES)
    admin = auth.enrolled_admin()

    failures = [auth.login(admin, totp_code="999999") for _ in range(5)]
    locked = auth.login(admin, totp_code=auth.next_code(admin))

    assert {r.json()["error"] for r in failures} == {"totp_invalid"}
    assert locked.status_code == 423
    counted = auth.scalar(
        sa.select(sa.func.count()).where(
            LoginAttempt.user_id == admin.user_id, LoginAttempt.success.is_(False)
        )
    )
    assert counted == 5


def test_given_one_ip_when_its_login_burst_is_spent_then_429_until_the_bucket_refills(auth):
    # Default: 10 logins at once per IP, refilled at 10 a minute (one every 6 s).
    names = [f"user-{n}" for n in range(11)]

    answers = [
        auth.http.post("/auth/login", json={"username": n, "password": "z" * 12}) for n in names
    ]
    auth.clock.advance(6)
    refilled = auth.http.post("/auth/login", json={"username": "user-x", "password": "z" * 12})

    assert [a.status_code for a in answers] == [401] * 10 + [429]
    assert answers[-1].json()["error"] == "rate_limited"
    assert answers[-1].headers["retry-after"] == "6" and answers[-1].json()["retry_after"] == 6
    assert refilled.status_code == 401


def test_given_one_identity_when_tried_from_many_ips_then_its_own_limit_answers_429(make_auth):
    # Default: 5 logins at once per identity, refilled at 5 a minute (one every 12 s);
    # lockout raised so that the limiter, not the lock, is what the 6th attempt meets.
    auth = make_auth(lockout_threshold=10)
    clients = [auth.client(ip=f"192.0.2.{n}") for n in range(1, 7)]

    answers = [
        c.post("/auth/login", json={"username": "target", "password": "q" * 12}) for c in clients
    ]
    auth.clock.advance(12)
    refilled = clients[0].post("/auth/login", json={"username": "target", "password": "q" * 12})

    assert [a.status_code for a in answers] == [401] * 5 + [429]
    assert answers[-1].headers["retry-after"] == "12"
    assert refilled.status_code == 401


# --- refresh tokens, logout, disabling -------------------------------------------------


def test_given_a_refresh_token_when_rotated_then_reusing_the_old_one_revokes_the_family(auth):
    admin = auth.enrolled_admin()
    old, first_access = admin.refresh_token, admin.access_token

    rotated = _refresh(auth, old)
    newest = rotated.json()
    newest_auth = {"Authorization": f"Bearer {newest['access_token']}"}
    works_before_reuse = auth.http.get("/auth/keys", headers=newest_auth).status_code
    reused = _refresh(auth, old)
    newest_after_reuse = _refresh(auth, newest["refresh_token"])

    assert rotated.status_code == 200 and newest["refresh_token"] != old
    assert newest["mfa_enrolled"] is True
    assert works_before_reuse == 200
    assert reused.status_code == 401 and reused.json()["error"] == "token_invalid"
    assert newest_after_reuse.status_code == 401
    alerts = auth.audit(action="token:refresh_reuse", outcome="alert")
    assert len(alerts) == 1 and alerts[0].actor == admin.user_id
    assert alerts[0].details["revoked_tokens"] >= 1
    # The family's access tokens die with it, at once: neither the first nor the rotated
    # one reads anything or mints a key (the reported attack).
    for access in (first_access, newest["access_token"]):
        bearer = {"Authorization": f"Bearer {access}"}
        assert auth.http.get("/auth/me", headers=bearer).status_code == 401
        minted = auth.http.post(
            "/auth/keys", json={"name": "after-reuse", "role": "service"}, headers=bearer
        )
        assert minted.status_code == 401 and minted.json()["error"] == "token_invalid"


def test_given_an_expired_refresh_token_when_used_then_401_token_expired(auth):
    admin = auth.enrolled_admin()
    auth.clock.advance(days=14, seconds=1)

    response = _refresh(auth, admin.refresh_token)

    assert response.status_code == 401 and response.json()["error"] == "token_expired"


def test_given_a_signed_in_admin_when_logging_out_then_both_tokens_stop_working_at_once(auth):
    admin = auth.enrolled_admin()

    out = auth.http.post(
        "/auth/logout", json={"refresh_token": admin.refresh_token}, headers=admin.auth
    )

    assert out.status_code == 204
    me = _me(auth, admin)
    assert me.status_code == 401 and me.json()["error"] == "token_invalid"
    assert _refresh(auth, admin.refresh_token).status_code == 401
    again = auth.http.post("/auth/logout", json={}, headers=admin.auth)
    assert again.status_code == 401


def test_given_a_disabled_user_when_using_their_tokens_or_password_then_everything_is_refused(
    auth,
):
    admin = auth.enrolled_admin()
    engineer = auth.enrolled_user(admin, "eng-anna", ["ml_engineer"])

    accounts.disable_user(
        auth.runtime, engineer.user_id, RequestMeta(ip="local"), actor_id=admin.user_id
    )

    assert _me(auth, engineer).status_code == 401
    assert _refresh(auth, engineer.refresh_token).status_code == 401
    login = auth.login(engineer, totp_code=auth.next_code(engineer))
    assert login.status_code == 401 and login.json()["error"] == "invalid_credentials"
    assert _me(auth, admin).status_code == 200


# --- roles, API keys -------------------------------------------------------------------


def test_given_an_admin_when_registering_a_reviewer_and_an_engineer_then_they_get_those_roles(
    auth,
):
    admin = auth.enrolled_admin()

    reviewer = auth.enrolled_user(admin, "rev-rita", ["reviewer"])
    engineer = auth.enrolled_user(admin, "eng-anna", ["ml_engineer"])

    assert _me(auth, reviewer).json()["roles"] == ["reviewer"]
    assert "promote_model" in _me(auth, reviewer).json()["permissions"]
    assert _me(auth, engineer).json()["roles"] == ["ml_engineer"]
    refused = auth.http.post(
        "/auth/register",
        json={"username": "mallory", "password": PASSWORD, "roles": ["admin"]},
        headers=engineer.auth,
    )
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    duplicate = auth.http.post(
        "/auth/register",
        json={"username": "REV-Rita", "password": PASSWORD, "roles": ["reviewer"]},
        headers=admin.auth,
    )
    assert duplicate.status_code == 409 and duplicate.json()["error"] == "conflict"


def test_given_an_ml_engineer_when_creating_keys_then_service_is_allowed_and_admin_is_not(auth):
    admin = auth.enrolled_admin()
    engineer = auth.enrolled_user(admin, "eng-anna", ["ml_engineer"])

    service = auth.http.post(
        "/auth/keys", json={"name": "loan-origination", "role": "service"}, headers=engineer.auth
    )
    escalate = auth.http.post(
        "/auth/keys", json={"name": "sneaky", "role": "admin"}, headers=engineer.auth
    )
    listing = auth.http.get("/auth/keys", headers=engineer.auth)

    assert service.status_code == 201
    created = service.json()
    assert created["key"].startswith(f"snm_{created['prefix']}_")
    assert escalate.status_code == 403 and escalate.json()["error"] == "forbidden"
    assert listing.status_code == 200
    assert [k["prefix"] for k in listing.json()] == [created["prefix"]]
    assert created["key"] not in listing.text and "key" not in listing.json()[0]
    denied = auth.audit(action="api_key:create", outcome="denied")
    assert len(denied) == 1 and denied[0].actor == engineer.user_id


def test_given_a_service_key_when_calling_then_it_acts_as_service_and_is_limited_per_key(
    make_auth,
):
    auth = make_auth(api_key_rate={"burst": 3, "per_minute": 60})
    admin = auth.enrolled_admin()
    keys = [
        auth.http.post(
            "/auth/keys", json={"name": n, "role": "service"}, headers=admin.auth
        ).json()["key"]
        for n in ("scoring-a", "scoring-b")
    ]
    first, second = ({"X-API-Key": k} for k in keys)

    answers = [auth.http.get("/auth/me", headers=first) for _ in range(4)]
    other_key = auth.http.get("/auth/me", headers=second)
    auth.clock.advance(1)
    refilled = auth.http.get("/auth/me", headers=first)

    me = answers[0].json()
    assert me["kind"] == "api_key" and me["roles"] == ["service"] and "score" in me["permissions"]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].headers["retry-after"] == "1"
    assert other_key.status_code == 200 and refilled.status_code == 200
    # A machine key manages nothing, whatever its role.
    assert auth.http.get("/auth/keys", headers=second).status_code == 403
    assert auth.http.post("/auth/totp/enroll", headers=second).status_code == 403


def test_given_revoked_and_expired_keys_when_used_then_401(auth):
    admin = auth.enrolled_admin()
    engineer = auth.enrolled_user(admin, "eng-anna", ["ml_engineer"])
    make = lambda body: auth.http.post("/auth/keys", json=body, headers=admin.auth).json()  # noqa: E731
    revoked = make({"name": "old", "role": "service"})
    short = make({"name": "short", "role": "edge_device", "expires_in_days": 1})

    engineer_try = auth.http.delete(f"/auth/keys/{revoked['prefix']}", headers=engineer.auth)
    revoke = auth.http.delete(f"/auth/keys/{revoked['prefix']}", headers=admin.auth)
    after_revoke = auth.http.get("/auth/me", headers={"X-API-Key": revoked["key"]})
    before_expiry = auth.http.get("/auth/me", headers={"X-API-Key": short["key"]})
    missing = auth.http.delete("/auth/keys/zzzzzzzz", headers=admin.auth)
    auth.clock.advance(days=1, seconds=1)
    after_expiry = auth.http.get("/auth/me", headers={"X-API-Key": short["key"]})

    assert engineer_try.status_code == 403
    assert revoke.status_code == 200 and revoke.json()["revoked_at"]
    assert after_revoke.status_code == 401 and after_revoke.json()["error"] == "token_invalid"
    assert before_expiry.status_code == 200
    assert after_expiry.status_code == 401 and after_expiry.json()["error"] == "token_invalid"
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


# --- audit -----------------------------------------------------------------------------


def test_given_security_events_when_reading_the_audit_log_then_only_the_admin_sees_them(auth):
    admin = auth.enrolled_admin()
    reviewer = auth.enrolled_user(admin, "rev-rita", ["reviewer"])
    auth.http.post(
        "/auth/login",
        json={"username": "rev-rita", "password": "not-the-password"},
        headers={"X-Request-ID": "req-failed-login-1"},
    )
    _refresh(auth, reviewer.refresh_token)
    _refresh(auth, reviewer.refresh_token)  # reuse: an alert, and the family is ended
    auth.sign_in(reviewer)

    as_reviewer = auth.http.get("/auth/audit", headers=reviewer.auth)
    as_admin = auth.http.get("/auth/audit", headers=admin.auth)

    assert as_reviewer.status_code == 403 and as_reviewer.json()["error"] == "forbidden"
    rows = as_admin.json()
    assert as_admin.status_code == 200
    assert {"success", "failure", "denied", "alert"} <= {r["outcome"] for r in rows}
    assert all(r["request_id"] for r in rows if r["action"] != "user:create")
    failed = [r for r in rows if r["request_id"] == "req-failed-login-1"]
    assert len(failed) == 1 and failed[0]["outcome"] == "failure" and failed[0]["action"] == "login"
    assert failed[0]["details"]["reason"] == "invalid_credentials"
    assert any(
        r["outcome"] == "denied"
        and r["action"] == "authorize:read_audit"
        and r["actor"] == reviewer.user_id
        for r in rows
    )
    assert any(r["outcome"] == "success" and r["action"] == "login" for r in rows)
    alerts = auth.http.get("/auth/audit", params={"outcome": "alert"}, headers=admin.auth).json()
    assert alerts and {r["outcome"] for r in alerts} == {"alert"}
    window = auth.http.get(
        "/auth/audit",
        params={"since": auth.clock.now().isoformat(), "limit": 5},
        headers=admin.auth,
    )
    assert window.status_code == 200 and len(window.json()) <= 5


# --- risk-based login ------------------------------------------------------------------


def test_given_failures_an_attacker_caused_when_the_owner_signs_in_with_totp_then_in_and_alerted(
    make_auth,
):
    # Signals, with the default weights (high_at = 70): the admin's only success came from
    # OFFICE_IP with the test browser a minute earlier, so a login from ATTACKER_IP with
    # another user agent scores new device (+25), new network (+20), 3 failures in the
    # last hour (+30) and a different /16 within 30 minutes of the last success (+60).
    # Those failures are anyone's to cause: a correct TOTP must outweigh them (step up and
    # notify), or an attacker could keep the owner out for good.
    auth = make_auth(**ROOMY_RATES)
    admin = auth.enrolled_admin()
    travelling = auth.client(ip=ATTACKER_IP, user_agent=ATTACKER_AGENT)
    for _ in range(3):
        auth.login(Account(admin.username, "guess-guess-guess", admin.user_id), client=travelling)

    without_code = auth.login(admin, client=travelling)
    signed_in = auth.login(admin, client=travelling, totp_code=auth.next_code(admin))

    assert without_code.status_code == 401 and without_code.json()["error"] == "totp_required"
    assert signed_in.status_code == 200
    alerts = auth.audit(action="login:risk", outcome="alert")
    high = [alert for alert in alerts if alert.details["risk_level"] == "high"]
    assert len(high) == 1 and high[0].actor == admin.user_id
    reasons = " ".join(high[0].details["reasons"])
    assert "new device" in reasons and "new network" in reasons and "failed logins" in reasons


def test_given_wrong_passwords_every_hour_when_the_owner_signs_in_then_never_denied(make_auth):
    """The reported denial: 4 wrong passwords (under the lockout threshold) before each of
    the owner's sign-ins from a new device never keep a correct password + TOTP out."""
    auth = make_auth(**ROOMY_RATES)
    admin = auth.enrolled_admin()
    for hour in range(3):
        attacker = auth.client(ip=f"203.0.113.{60 + hour}", user_agent=ATTACKER_AGENT)
        for _ in range(4):
            wrong = Account(admin.username, "guess-guess-guess", admin.user_id)
            assert auth.login(wrong, client=attacker).status_code == 401
        new_device = auth.client(ip=f"192.0.2.{10 + hour}", user_agent=f"NewPhone/{hour}")
        answer = auth.login(admin, client=new_device, totp_code=auth.next_code(admin))
        assert answer.status_code == 200, answer.json()
        auth.clock.advance(3600)


def test_given_an_account_without_a_second_factor_when_risk_is_high_then_denied(make_auth):
    """No TOTP to step up to: a HIGH-risk sign-in of such an account stays denied."""
    auth = make_auth(**ROOMY_RATES)
    admin = auth.enrolled_admin()
    created = auth.http.post(
        "/auth/register",
        json={"username": "batch-runner", "password": PASSWORD, "roles": ["service"]},
        headers=admin.auth,
    )
    runner = Account("batch-runner", PASSWORD, created.json()["id"])
    assert auth.login(runner).status_code == 200
    elsewhere = auth.client(ip=ATTACKER_IP, user_agent=ATTACKER_AGENT)
    for _ in range(3):
        auth.login(Account(runner.username, "guess-guess-guess", runner.user_id), client=elsewhere)

    denied = auth.login(runner, client=elsewhere)

    assert denied.status_code == 403 and denied.json()["error"] == "login_denied"
    assert auth.login(runner).status_code == 200  # from the usual place, still in


def test_given_an_enrolled_admin_when_risk_is_medium_then_totp_is_still_demanded(make_auth):
    # Signals: known network (OFFICE_IP's /24) but a new user agent, so a new device (+25),
    # plus one failed login in the last hour (+10): 35, between medium_at 30 and high_at 70.
    auth = make_auth(**ROOMY_RATES)
    admin = auth.enrolled_admin()
    laptop = auth.client(ip=OFFICE_IP, user_agent="Mozilla/5.0 (Macintosh) NewLaptop/2.0")
    auth.login(Account(admin.username, "typo-typo-typo", admin.user_id), client=laptop)

    without_code = auth.login(admin, client=laptop)
    with_code = auth.login(admin, client=laptop, totp_code=auth.next_code(admin))

    assert without_code.status_code == 401 and without_code.json()["error"] == "totp_required"
    assert with_code.status_code == 200
    success = auth.audit(action="login", outcome="success")[0]
    assert success.details["risk_level"] == "medium" and success.details["risk_score"] == 35


def test_given_an_account_without_2fa_when_risk_is_medium_then_it_signs_in_with_an_alert(auth):
    # A role that needs no 2FA (service). First login: no history, new device (+25) and new
    # network (+20) = 45, medium: let in, alerted. Second, same place: 0, low: no alert.
    admin = auth.enrolled_admin()
    auth.http.post(
        "/auth/register",
        json={"username": "batch-bot", "password": PASSWORD, "roles": ["service"]},
        headers=admin.auth,
    )
    bot = Account("batch-bot", PASSWORD, accounts.find_user_id(auth.runtime, "batch-bot"))
    laptop = auth.client(ip="192.0.2.80", user_agent="batch-runner/1.0")

    first = auth.login(bot, client=laptop)
    second = auth.login(bot, client=laptop)

    assert first.status_code == second.status_code == 200
    assert first.json()["mfa_enrolled"] is True  # nothing to enroll for this role
    alerts = auth.audit(action="login:risk", outcome="alert", actor=bot.user_id)
    assert len(alerts) == 1 and alerts[0].details["risk_level"] == "medium"
