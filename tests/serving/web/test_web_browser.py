"""The web pages in a real browser: Debian's headless Chromium driven by Playwright against
a real credit service (`senim deploy credit`, then `senim serve credit`).

One server for the module, deployed from a copy of the shared trained store (a reviewer
approves a version here, which must not move the shared store's champion). Each test
opens its own browser context (fresh cookies). Screenshots of every page go to
``build/test-artifacts/web/`` (``SENIM_TEST_ARTIFACTS`` to change it).
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.auth.totp_person import TotpPerson as Person
from tests.serving.credit_server import PASSWORD, TEST_META, deployed_credit_service

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("SENIM_TEST_ARTIFACTS", "build/test-artifacts")) / "web"
MODEL = "credit-rating"
FAST_AUTH = {
    "argon2_time_cost": 1,
    "argon2_memory_kib": 19456,
    "login_rate_per_identity": {"burst": 50, "per_minute": 50},
    "login_rate_per_ip": {"burst": 100, "per_minute": 100},
}

if not Path(CHROMIUM).exists():  # pragma: no cover - CI and the README install it
    pytest.skip("no system Chromium (apt install chromium)", allow_module_level=True)


def _person(runtime, admin_id: str, username: str, roles: list[str]) -> Person:
    from auth import accounts
    from auth.models import TotpSecret
    from auth.totp import new_totp_secret

    user = accounts.create_user(
        runtime, username, PASSWORD, roles, TEST_META, actor_id=admin_id, actor_roles=("admin",)
    )
    secret = new_totp_secret()
    with runtime.sessions.begin() as session:
        session.add(
            TotpSecret(
                user_id=user.id,
                secret_encrypted=runtime.secret_box.encrypt(secret, context=user.id),
                created_at=runtime.now(),
                confirmed_at=runtime.now(),
            )
        )
    return Person(username, user.id, secret)


def _awaiting_version(tracking_uri: str, database_url: str, review) -> str:
    """A new version of the champion's run, through the gate as the flows record it: it
    passes and, as credit-rating needs approval here, waits for a reviewer."""
    from mlflow import MlflowClient

    from pipelines.release.gate import GateDecision
    from pipelines.release.promotion import apply_gate
    from pipelines.release.registry import RegisteredVersion

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    champion = client.get_model_version_by_alias(MODEL, "champion")
    tags = {k: v for k, v in (champion.tags or {}).items() if k.startswith("evidence.")}
    tags["trained_by"] = "trainer"
    version = client.create_model_version(
        MODEL, source=champion.source, run_id=champion.run_id, tags=tags
    )
    client.set_registered_model_alias(MODEL, "challenger", version.version)
    apply_gate(
        client,
        RegisteredVersion(MODEL, str(version.version), champion.run_id),
        GateDecision(passed=True, reasons=["macro_f1 0.41 >= 0.20: ok"]),
        review,
        database_url,
    )
    return str(version.version)


@pytest.fixture(scope="module")
def site(_trained_store_session, tmp_path_factory):
    from senim.config import load_params

    root = tmp_path_factory.mktemp("web")
    trained = root / "trained"
    shutil.copytree(_trained_store_session["root"], trained)
    with deployed_credit_service(
        trained,
        root / "svc",
        auth=FAST_AUTH,
        review={"approval_required_for": [MODEL]},
        web={"secure_cookies": True},
    ) as running:
        callers = running["callers"]
        runtime = callers.runtime
        officer = _person(runtime, callers.admin.id, "olga-officer", ["credit_officer"])
        reviewer = _person(runtime, callers.admin.id, "rita-reviewer", ["reviewer"])
        admin = _person(runtime, callers.admin.id, "aida-admin", ["admin"])
        params = load_params(running["stores"].params_path)
        snapshot = pd.read_csv(_trained_store_session["workspace"] / "data/credit/snapshot.csv")
        yield {
            **running,
            "officer": officer,
            "reviewer": reviewer,
            "admin": admin,
            "params": params,
            "snapshot": snapshot,
        }


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield launched
        launched.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture(scope="module")
def signed_in_states(site, browser) -> dict:
    """One sign-in per person for the module (each TOTP code works once): the browser
    state (cookies) each test starts from."""
    states = {}
    for who, target in (("officer", "/web/score"), ("reviewer", "/web/review"),
                        ("admin", "/web/admin/users")):  # fmt: skip
        context = browser.new_context()
        sign_in(context.new_page(), site, site[who], target)
        states[who] = context.storage_state()
        context.close()
    return states


@pytest.fixture()
def as_person(browser, signed_in_states):
    """``as_person("officer", width=1280)``: a page already signed in."""
    contexts = []

    def open_page(who: str, width: int = 1280):
        context = browser.new_context(
            viewport={"width": width, "height": 900}, storage_state=signed_in_states[who]
        )
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def shot(page, name: str, *, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def sign_in(page, site, person: Person, target: str = "/web/") -> None:
    page.goto(site["url"] + target)
    page.fill("#username", person.username)
    page.fill("#password", PASSWORD)
    page.fill("#code", person.code())
    page.click("button[type=submit]")
    assert page.url.endswith(target), page.content()[:2000]


def application(site, row: int = 0) -> dict:
    record = site["snapshot"].drop(columns=["Rating", "Date"]).iloc[row].to_dict()
    return {k: v for k, v in record.items() if not (isinstance(v, float) and math.isnan(v))}


def fill_application(page, values: dict) -> None:
    for column, value in values.items():
        selector = f'[name="{column}"]'
        if column in ("Sector", "Rating Agency Name"):
            page.select_option(selector, str(value))
        else:
            page.fill(selector, str(value))


def prediction_events(site, caller: str) -> int:
    import sqlalchemy as sa

    from senim.platform_db.tables import PredictionLogRecord

    table = PredictionLogRecord.__table__
    with site["callers"].runtime.engine.connect() as connection:
        return connection.scalar(
            sa.select(sa.func.count()).select_from(table).where(table.c.caller == caller)
        )


# --- sign-in and sessions ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/web/", "/web/score", "/web/history", "/web/review"])
def test_given_no_session_when_a_page_is_opened_then_the_sign_in_page_is_shown(site, page, path):
    response = page.goto(site["url"] + path)

    assert response.status == 200
    assert "/web/sign-in" in page.url and page.locator("#username").is_visible()


def test_given_an_officer_with_totp_when_signing_in_by_keyboard_then_the_start_page_opens(
    site, page
):
    page.goto(site["url"] + "/web/sign-in")
    shot(page, "01-sign-in")
    assert page.evaluate("document.activeElement.id") == "username"  # focused on arrival
    page.keyboard.type(site["officer"].username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.type(site["officer"].code())
    page.keyboard.press("Enter")
    page.wait_for_url("**/web/")

    assert "Score an application" in page.inner_text("main")
    assert "Review models" not in page.inner_text("main")  # an officer does not review
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["senim_session"]
    assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Strict"
    shot(page, "02-home-officer")


def test_given_a_wrong_code_when_signing_in_then_it_is_refused_and_no_session_starts(site, page):
    page.goto(site["url"] + "/web/sign-in")
    page.fill("#username", site["officer"].username)
    page.fill("#password", PASSWORD)
    page.fill("#code", "000000")
    with page.expect_response("**/web/sign-in") as answer:
        page.click("button[type=submit]")

    assert answer.value.status == 401
    assert "not valid" in page.inner_text("[role=alert]")
    assert "senim_session" not in {c["name"] for c in page.context.cookies()}


def test_given_a_signed_in_officer_when_signing_out_then_the_old_session_is_refused(site, page):
    sign_in(page, site, site["officer"])
    cookies = page.context.cookies()
    page.click("text=Sign out")
    page.wait_for_url("**/web/sign-in")

    page.context.add_cookies(cookies)  # the old cookies, replayed
    page.goto(site["url"] + "/web/score")
    assert "/web/sign-in" in page.url


def test_given_a_post_without_the_csrf_token_when_sent_then_refused_and_nothing_scored(
    site, as_person
):
    page = as_person("officer")
    page.goto(site["url"] + "/web/score")
    before = prediction_events(site, site["officer"].user_id)

    answer = page.request.post(site["url"] + "/web/score", form=application(site))

    assert answer.status == 403 and "Form refused" in answer.text()
    assert prediction_events(site, site["officer"].user_id) == before


# --- the credit officer ----------------------------------------------------------------


def test_given_an_application_when_scored_then_band_score_decision_reasons_and_versions_show(
    site, as_person
):
    page = as_person("officer")
    page.goto(site["url"] + "/web/score")
    shot(page, "03-score-form")
    fill_application(page, {**application(site), "Name": "Delta Hotels Corporation"})
    page.click("text=Score this application")
    page.wait_for_selector("#band")

    band = page.inner_text("#band")
    score = float(page.get_attribute("#score-value", "data-score"))  # unrounded
    decision = page.inner_text("#decision").lower()
    scoring = site["params"].scoring
    assert band in ("A+", "A", "BBB", "BB", "B", "Junk") and 0 <= score <= 100
    expected = (
        "approve"
        if score >= scoring.approve_min_score
        else "reject"
        if score <= scoring.reject_max_score
        else "review"
    )
    assert decision == expected
    assert page.locator(".reasons li").count() == site["params"].scoring.top_reasons
    assert page.inner_text("#model-version").strip().isdigit()
    assert page.locator(".gauge svg").is_visible()
    shot(page, "04-score-result")


def test_given_a_ratio_that_is_not_a_number_when_scored_then_the_problem_shows_next_to_it(
    site, as_person
):
    page = as_person("officer")
    page.goto(site["url"] + "/web/score")
    before = prediction_events(site, site["officer"].user_id)
    fill_application(page, {**application(site), "currentRatio": "abc", "debtRatio": "-1"})
    with page.expect_response("**/web/score") as answer:
        page.click("text=Score this application")

    assert answer.value.status == 422
    current = page.locator("#f-currentRatio")
    assert current.get_attribute("aria-invalid") == "true"
    assert "f-currentRatio-problem" in current.get_attribute("aria-describedby")
    assert "enter a number" in page.inner_text("#f-currentRatio-problem")
    assert "greater than or equal to 0" in page.inner_text("#f-debtRatio-problem")
    assert page.input_value("#f-quickRatio") != ""  # what was entered stays
    assert prediction_events(site, site["officer"].user_id) == before
    shot(page, "05-score-validation")


def test_given_a_csv_of_applications_when_uploaded_then_each_is_scored_and_in_the_history(
    site, as_person, tmp_path
):
    rows = [{**application(site, i), "Name": f"Upload Co {i}"} for i in range(3)]
    upload = tmp_path / "applications.csv"
    pd.DataFrame(rows).to_csv(upload, index=False)
    page = as_person("officer")
    page.goto(site["url"] + "/web/score")

    page.set_input_files("#file", str(upload))
    page.click("text=Score the file")
    page.wait_for_selector("text=applications of applications.csv scored")
    assert page.locator("main table tbody tr").count() == 3
    shot(page, "06-score-csv-result")

    page.goto(site["url"] + "/web/history?q=Upload+Co")
    assert page.locator("main table tbody tr").count() == 3
    shot(page, "07-history")
    export = page.request.get(site["url"] + "/web/history.csv?q=Upload+Co")
    lines = export.text().strip().splitlines()
    assert export.status == 200 and lines[0].startswith("scored_at,company,rating_band")
    assert sorted(line.split(",")[1] for line in lines[1:]) == [f"Upload Co {i}" for i in range(3)]


def test_given_a_csv_with_a_bad_row_when_uploaded_then_nothing_is_scored_and_the_row_is_named(
    site, as_person, tmp_path
):
    rows = [application(site, 0), {**application(site, 1), "Sector": "Casinos"}]
    upload = tmp_path / "bad.csv"
    pd.DataFrame(rows).to_csv(upload, index=False)
    page = as_person("officer")
    page.goto(site["url"] + "/web/score")
    before = prediction_events(site, site["officer"].user_id)

    page.set_input_files("#file", str(upload))
    with page.expect_response("**/web/score/csv") as answer:
        page.click("text=Score the file")

    assert answer.value.status == 422
    problem_row = page.locator("main table tbody tr").first.inner_text()
    assert problem_row.startswith("2") and "Sector" in problem_row
    assert prediction_events(site, site["officer"].user_id) == before


# --- the reviewer ----------------------------------------------------------------------


def test_given_a_reviewer_when_approving_an_awaiting_version_then_the_champion_moves(
    site, as_person
):
    from mlflow import MlflowClient

    version = _awaiting_version(
        site["tracking_uri"], site["stores"].database_url, site["params"].review
    )
    page = as_person("reviewer")
    page.goto(site["url"] + "/web/review")
    assert f"{MODEL} version {version}" in page.inner_text("main")
    shot(page, "08-review-queue")
    page.click(f"text={MODEL} version {version}")
    page.wait_for_selector("#comment")
    assert "Candidate: version" in page.inner_text("main")
    assert "Champion: version" in page.inner_text("main")
    shot(page, "09-review-version")

    page.fill("#comment", "same weights as the champion; evidence read")
    page.fill("#code", site["reviewer"].code())
    page.click("text=Approve: make champion")
    page.wait_for_selector("[role=status]")

    assert f"champion is now version {version}" in page.inner_text("[role=status]")
    client = MlflowClient(tracking_uri=site["tracking_uri"], registry_uri=site["tracking_uri"])
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == version
    tags = client.get_model_version(MODEL, version).tags
    assert tags["review.status"] == "approved" and tags["review.reviewer"] == "rita-reviewer"


def test_given_a_reviewer_with_a_wrong_code_when_approving_then_nothing_moves(site, as_person):
    from mlflow import MlflowClient

    version = _awaiting_version(
        site["tracking_uri"], site["stores"].database_url, site["params"].review
    )
    client = MlflowClient(tracking_uri=site["tracking_uri"], registry_uri=site["tracking_uri"])
    champion = str(client.get_model_version_by_alias(MODEL, "champion").version)
    page = as_person("reviewer")
    page.goto(site["url"] + f"/web/review/{MODEL}/{version}")

    page.fill("#comment", "looks fine")
    page.fill("#code", "000000")
    with page.expect_response(f"**/web/review/{MODEL}/{version}") as answer:
        page.click("text=Approve: make champion")

    assert answer.value.status == 401
    assert "not valid" in page.inner_text("#code-problem")
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == champion
    assert client.get_model_version(MODEL, version).tags["review.status"] == "awaiting_review"


def test_given_an_officer_when_opening_the_review_desk_then_it_is_forbidden(site, as_person):
    page = as_person("officer")

    response = page.goto(site["url"] + "/web/review")

    assert response.status == 403 and "promote_model" in page.inner_text("main")


# --- the admin and the layout --------------------------------------------------------------


def test_given_an_admin_when_opening_the_admin_pages_then_users_keys_and_audit_show(
    site, as_person
):
    page = as_person("admin")
    page.goto(site["url"] + "/web/admin/users")
    assert "olga-officer" in page.inner_text("main")
    shot(page, "10-admin-users")
    page.goto(site["url"] + "/web/admin/keys")
    shot(page, "11-admin-keys")
    page.goto(site["url"] + "/web/admin/audit?action=login")
    assert "login" in page.inner_text("main table")
    shot(page, "12-admin-audit")


@pytest.mark.parametrize(
    "path", ["/web/", "/web/score", "/web/history", "/web/review", "/web/admin/audit"]
)
def test_given_a_360_pixel_wide_screen_when_a_page_opens_then_nothing_scrolls_sideways(
    site, as_person, path
):
    page = as_person("admin", width=360)
    page.goto(site["url"] + path)
    overflow = page.evaluate("document.documentElement.scrollWidth")
    unlabelled = page.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
           .filter(e => !(e.labels && e.labels.length)).map(e => e.name)"""
    )
    if path == "/web/score":
        shot(page, "13-score-form-360px", full_page=False)

    assert page.url.endswith(path)
    assert overflow <= 360
    assert unlabelled == []
