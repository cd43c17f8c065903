"""Sign-in, sessions and CSRF of the web pages, in process on a real auth database."""

from __future__ import annotations

import pyotp

from tests.serving.web.web_site import PASSWORD, csrf_of, post_form


def _sign_in_form(client, person, code: str, csrf: str | None = None, next_: str = "/web/"):
    page = client.get("/web/sign-in")
    return client.post(
        "/web/sign-in",
        data={"username": person.username, "password": PASSWORD, "code": code,
              "csrf": csrf if csrf is not None else csrf_of(page.text), "next": next_},
        follow_redirects=False,
    )  # fmt: skip


def test_given_password_and_code_when_signing_in_then_session_cookies_are_strict_and_httponly(
    site,
):
    client = site.browser()
    site.clock.advance(30)
    code = pyotp.TOTP(site.admin.totp_secret).at(site.clock.now())

    response = _sign_in_form(client, site.admin, code)

    assert response.status_code == 303 and response.headers["location"] == "/web/"
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("senim_session="))
    assert "HttpOnly" in session and "SameSite=strict" in session and "Path=/web" in session


def test_given_no_code_for_a_2fa_account_when_signing_in_then_the_code_is_asked_for(site):
    response = _sign_in_form(site.browser(), site.admin, "")

    assert response.status_code == 401
    assert "6-digit code" in response.text
    assert "senim_session" not in response.headers.get("set-cookie", "")


def test_given_a_sign_in_post_without_its_nonce_token_when_sent_then_refused(site):
    site.clock.advance(30)
    code = pyotp.TOTP(site.admin.totp_secret).at(site.clock.now())

    response = _sign_in_form(site.browser(), site.admin, code, csrf="forged")

    assert response.status_code == 403 and "Form refused" in response.text


def test_given_a_next_target_off_the_site_when_signing_in_then_it_goes_home(site):
    site.clock.advance(30)
    code = pyotp.TOTP(site.admin.totp_secret).at(site.clock.now())

    response = _sign_in_form(site.browser(), site.admin, code, next_="https://evil.example/")

    assert response.headers["location"] == "/web/"


def test_given_a_recovery_code_when_signing_in_then_it_works_once(site):
    from auth.models import RecoveryCode
    from auth.totp import hash_recovery_code

    with site.runtime.sessions.begin() as session:
        session.add(RecoveryCode(user_id=site.admin.id, code_hash=hash_recovery_code("ab12-cd34")))

    first = _sign_in_form(site.browser(), site.admin, "ab12-cd34")
    again = _sign_in_form(site.browser(), site.admin, "ab12-cd34")

    assert first.status_code == 303
    assert again.status_code == 401


def test_given_an_expired_access_token_when_a_page_opens_then_the_session_is_renewed(site, admin):
    site.clock.advance(site.params.auth.access_token_minutes * 60 + 60)

    response = admin.get("/web/", follow_redirects=False)

    assert response.status_code == 200
    assert "senim_session=" in response.headers.get("set-cookie", "")


def test_given_sign_out_when_the_old_cookies_are_replayed_then_sign_in_is_asked(site, admin):
    old = dict(admin.cookies)
    response = post_form(admin, "/web/", "/web/sign-out", {})
    assert response.status_code == 303

    replay = site.browser()
    for name, value in old.items():
        replay.cookies.set(name, value, path="/web")
    page = replay.get("/web/", follow_redirects=False)

    assert page.status_code == 303 and page.headers["location"].startswith("/web/sign-in")


def test_given_any_page_then_a_strict_content_security_policy_is_sent(site, admin):
    page = admin.get("/web/")

    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "<script" not in page.text and "style=" not in page.text


def test_given_a_user_without_score_when_opening_the_officer_page_then_403(site):
    reviewer = site.person("rev", ["reviewer"])

    page = site.sign_in(reviewer).get("/web/score")

    assert page.status_code == 403 and "score" in page.text


def test_given_an_officer_without_2fa_when_signing_in_then_enrolment_comes_first(site):
    import re

    from auth import accounts
    from tests.serving.web.web_site import META

    accounts.create_user(
        site.runtime, "newbie", PASSWORD, ["credit_officer"], META,
        actor_id=site.admin.id, actor_roles=("admin",),
    )  # fmt: skip
    client = site.browser()
    page = client.get("/web/sign-in")
    signed = client.post(
        "/web/sign-in",
        data={"username": "newbie", "password": PASSWORD, "code": "", "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert signed.status_code == 303

    blocked = client.get("/web/score", follow_redirects=False)
    assert blocked.status_code == 303 and blocked.headers["location"] == "/web/enroll"
    enrol = client.get("/web/enroll")
    key = re.search(r'id="totp-key">([A-Z2-7 ]+)<', enrol.text).group(1).replace(" ", "")
    assert 'src="data:image/png;base64,' in enrol.text
    site.clock.advance(30)
    done = client.post(
        "/web/enroll",
        data={"code": pyotp.TOTP(key).at(site.clock.now()), "csrf": csrf_of(enrol.text)},
    )

    assert done.status_code == 200 and len(re.findall(r"<li>", done.text)) == 10
    assert client.get("/web/score").status_code == 200  # the new session has both factors
