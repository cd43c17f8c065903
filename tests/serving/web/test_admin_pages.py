"""The admin pages in a browser: accounts, API keys and the audit log.

In process (TestClient) against the real web app on a real SQLite auth database: people
sign in through the sign-in form with a password and a TOTP code, and every change goes
through ``auth.accounts`` / ``auth.machine_keys`` with no mocks. The clock is frozen so
TOTP steps, token ages and audit times are under the test's control.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest

from auth import accounts, machine_keys
from auth.errors import TokenInvalid
from auth.principals import authenticate_api_key
from tests.serving.web.web_site import (
    META,
    PASSWORD,
    audit_rows,
    csrf_of,
    notice_of,
    post_form,
    problem_of,
    row_of,
)

# --- accounts ----------------------------------------------------------------------------


def test_given_an_admin_when_creating_a_user_then_it_is_listed_with_its_roles(site, admin):
    response = post_form(
        admin,
        "/web/admin/users",
        "/web/admin/users",
        {"username": "carol", "password": PASSWORD, "roles": ["reviewer", "ml_engineer"]},
    )

    assert response.status_code == 303
    assert response.headers["location"].startswith("/web/admin/users?done=user-created")
    page = admin.get(response.headers["location"])
    assert page.status_code == 200
    assert notice_of(page.text) == "Created the account carol."
    row = row_of(page.text, "carol")
    assert "ml_engineer" in row and "reviewer" in row
    assert site.roles_of("carol") == ["ml_engineer", "reviewer"]
    assert "user:create" in site.audit_actions()


def test_given_a_weak_password_when_creating_a_user_then_its_field_says_why_and_nothing_is_made(
    site, admin
):
    response = post_form(
        admin,
        "/web/admin/users",
        "/web/admin/users",
        {"username": "dave", "password": "short", "roles": ["reviewer"]},
    )

    assert response.status_code == 400
    assert "at least 12 characters" in problem_of(response.text, "password")
    assert 'aria-describedby="password-hint password-problem"' in response.text
    assert 'value="dave"' in response.text  # what was typed stays, but never the password
    assert "short" not in re.findall(r'value="([^"]*)"', response.text)
    assert "dave" not in [user.username for user in accounts.list_users(site.runtime)]


def test_given_a_taken_username_when_creating_a_user_then_the_username_field_says_so(site, admin):
    response = post_form(
        admin,
        "/web/admin/users",
        "/web/admin/users",
        {"username": "Site-Admin", "password": PASSWORD, "roles": ["reviewer"]},
    )

    assert response.status_code == 409
    assert problem_of(response.text, "username") == "that username is taken"


def test_given_a_user_when_the_admin_grants_then_removes_a_role_then_the_list_shows_each_change(
    site, admin
):
    bob = site.person("bob", ["reviewer"])

    granted = post_form(
        admin, "/web/admin/users", f"/web/admin/users/{bob.id}/roles", {"role": "ml_engineer"}
    )
    assert granted.status_code == 303
    assert notice_of(admin.get(granted.headers["location"]).text) == "Granted ml_engineer to bob."
    assert site.roles_of("bob") == ["ml_engineer", "reviewer"]

    removed = post_form(
        admin, "/web/admin/users", f"/web/admin/users/{bob.id}/roles/remove", {"role": "reviewer"}
    )
    assert removed.status_code == 303
    page = admin.get(removed.headers["location"])
    assert notice_of(page.text).startswith("Removed reviewer from bob")
    assert site.roles_of("bob") == ["ml_engineer"]
    assert "reviewer</span>" not in row_of(page.text, "bob")


def test_given_a_role_the_user_lacks_when_removing_it_then_the_row_says_so_with_400(site, admin):
    bob = site.person("bob", ["reviewer"])

    response = post_form(
        admin, "/web/admin/users", f"/web/admin/users/{bob.id}/roles/remove", {"role": "admin"}
    )

    assert response.status_code == 400
    assert problem_of(response.text, f"remove-{bob.id}") == "the user does not have role admin"
    assert site.roles_of("bob") == ["reviewer"]


def test_given_a_signed_in_user_when_the_admin_disables_it_then_its_session_ends(site, admin):
    bob = site.person("bob", ["reviewer"])
    bobs_browser = site.sign_in(bob)
    assert bobs_browser.get("/web/admin/users").status_code == 403  # signed in, not an admin

    unconfirmed = post_form(admin, "/web/admin/users", f"/web/admin/users/{bob.id}/disable", {})
    assert unconfirmed.status_code == 422
    assert problem_of(unconfirmed.text, f"disable-{bob.id}").startswith("Tick the box")
    assert accounts.get_user(site.runtime, bob.id).is_active

    response = post_form(
        admin, "/web/admin/users", f"/web/admin/users/{bob.id}/disable", {"confirm": "yes"}
    )

    assert response.status_code == 303
    page = admin.get(response.headers["location"])
    assert notice_of(page.text).startswith("Disabled bob")
    assert "disabled" in row_of(page.text, "bob")
    assert not accounts.get_user(site.runtime, bob.id).is_active
    refused = bobs_browser.get("/web/admin/users", follow_redirects=False)
    assert refused.status_code == 303
    assert refused.headers["location"].startswith("/web/sign-in")


def test_given_an_admin_when_disabling_its_own_account_then_it_is_refused(site, admin):
    response = post_form(
        admin, "/web/admin/users", f"/web/admin/users/{site.admin.id}/disable", {"confirm": "yes"}
    )

    assert response.status_code == 409
    assert "your own account" in problem_of(response.text, f"disable-{site.admin.id}")
    assert accounts.get_user(site.runtime, site.admin.id).is_active


# --- API keys ----------------------------------------------------------------------------


def test_given_an_admin_when_creating_a_key_then_it_is_shown_once_and_listed_by_prefix(site, admin):
    response = post_form(
        admin,
        "/web/admin/keys",
        "/web/admin/keys",
        {"name": "loan-origination", "role": "service", "expires": "30"},
    )

    assert response.status_code == 201
    assert "Copy this key now" in response.text
    key = re.search(r'id="new-key" value="([^"]+)"', response.text).group(1)
    principal = authenticate_api_key(site.runtime, key, META)
    assert principal.roles == ("service",)
    (view,) = machine_keys.list_keys(site.runtime)
    assert view.name == "loan-origination"
    assert (view.expires_at - view.created_at).days == 30

    listing = admin.get("/web/admin/keys")
    assert listing.status_code == 200
    assert key not in listing.text
    row = row_of(listing.text, view.prefix)
    assert "loan-origination" in row and "service" in row and "active" in row


def test_given_a_person_role_when_creating_a_key_then_the_role_field_refuses_it(site, admin):
    response = post_form(
        admin, "/web/admin/keys", "/web/admin/keys", {"name": "sneaky", "role": "admin"}
    )

    assert response.status_code == 422
    assert problem_of(response.text, "role") == "Choose edge_device or service."
    assert machine_keys.list_keys(site.runtime) == []


def test_given_a_sign_in_older_than_allowed_when_creating_a_key_then_it_asks_to_sign_in_again(
    site, admin
):
    site.clock.advance(site.params.auth.key_creation_max_auth_age_seconds + 1)

    response = post_form(
        admin, "/web/admin/keys", "/web/admin/keys", {"name": "late", "role": "service"}
    )

    assert response.status_code == 403
    assert "Sign in again" in response.text
    assert machine_keys.list_keys(site.runtime) == []
    site.sign_in(site.admin, admin)
    again = post_form(
        admin, "/web/admin/keys", "/web/admin/keys", {"name": "late", "role": "service"}
    )
    assert again.status_code == 201


def test_given_a_key_when_the_admin_revokes_it_then_it_stops_working(site, admin):
    created = machine_keys.create_key(
        site.runtime, "camera-7", "edge_device", META, actor_id=site.admin.id,
        actor_roles=("admin",),
    )  # fmt: skip
    prefix = created.view.prefix

    response = post_form(
        admin, "/web/admin/keys", f"/web/admin/keys/{prefix}/revoke", {"confirm": "yes"}
    )

    assert response.status_code == 303
    page = admin.get(response.headers["location"])
    assert notice_of(page.text) == f"Revoked the API key {prefix}; it stops working at once."
    assert "revoked" in row_of(page.text, prefix)
    with pytest.raises(TokenInvalid):
        authenticate_api_key(site.runtime, created.key, META)


def test_given_an_unknown_prefix_when_revoking_then_it_says_so_with_404(site, admin):
    response = post_form(
        admin, "/web/admin/keys", "/web/admin/keys/abc123/revoke", {"confirm": "yes"}
    )

    assert response.status_code == 404
    assert "no API key with that prefix" in response.text


# --- audit log ---------------------------------------------------------------------------


def test_given_audit_events_when_filtering_by_action_then_only_those_are_listed(site, admin):
    post_form(
        admin,
        "/web/admin/users",
        "/web/admin/users",
        {"username": "erin", "password": PASSWORD, "roles": ["reviewer"]},
    )

    page = admin.get("/web/admin/audit", params={"action": "user:create"})

    assert page.status_code == 200
    actions = [cells[3] for cells in audit_rows(page.text)]
    assert actions and set(actions) == {"user:create"}
    assert "erin" in page.text  # the details name the new account

    everything = admin.get("/web/admin/audit", params={"actor": "site-admin"})
    assert everything.status_code == 200
    rows = audit_rows(everything.text)
    assert {cells[2].split()[0] for cells in rows} == {"site-admin"}
    assert "login" in [cells[3] for cells in rows]  # the admin's own sign-in, by username


def test_given_an_invalid_date_when_filtering_the_audit_log_then_the_field_says_so_with_422(
    site, admin
):
    page = admin.get("/web/admin/audit", params={"since": "2026-13-01", "outcome": "success"})

    assert page.status_code == 422
    assert "YYYY-MM-DD" in problem_of(page.text, "since")
    assert 'aria-describedby="since-hint since-problem"' in page.text
    assert 'value="2026-13-01"' in page.text
    assert problem_of(page.text, "until") == ""


def test_given_dates_when_filtering_the_audit_log_then_until_includes_its_whole_day(site, admin):
    day = site.clock.now().date().isoformat()
    today = admin.get("/web/admin/audit", params={"since": day, "until": day})
    tomorrow = admin.get(
        "/web/admin/audit",
        params={"since": (site.clock.now().date() + timedelta(days=1)).isoformat()},
    )

    assert today.status_code == 200 and "login" in [cells[3] for cells in audit_rows(today.text)]
    assert tomorrow.status_code == 200 and audit_rows(tomorrow.text) == []


def test_given_more_events_than_a_page_when_following_older_then_the_rest_is_shown(site, admin):
    for n in range(13):
        site.runtime.record("cli:test", "test:event", f"thing:{n}", "success", META)

    first = admin.get("/web/admin/audit", params={"action": "test:event"})
    assert first.status_code == 200
    assert [cells[4] for cells in audit_rows(first.text)] == [
        f"thing:{n}" for n in range(12, 2, -1)
    ]
    older = html.unescape(re.search(r'href="([^"]+)">Older events', first.text).group(1))
    second = admin.get(older)

    assert second.status_code == 200
    assert [cells[4] for cells in audit_rows(second.text)] == ["thing:2", "thing:1", "thing:0"]
    assert "Older events" not in second.text


# --- who may ------------------------------------------------------------------------------


def test_given_a_reviewer_when_opening_the_admin_pages_then_each_is_refused_with_403(site):
    reviewer = site.sign_in(site.person("rita", ["reviewer"]))

    for path in ("/web/admin/users", "/web/admin/keys", "/web/admin/audit"):
        page = reviewer.get(path)
        assert page.status_code == 403, path
        assert "Not allowed" in page.text
    token = csrf_of(reviewer.get("/web/admin/users").text)  # the sign-out form's
    response = reviewer.post(
        "/web/admin/users",
        data={"username": "mallory", "password": PASSWORD, "roles": ["admin"], "csrf": token},
    )
    assert response.status_code == 403
    assert "mallory" not in [user.username for user in accounts.list_users(site.runtime)]
    assert "authorize:manage_users" in site.audit_actions()


def test_given_no_session_when_opening_an_admin_page_then_it_goes_to_sign_in(site):
    response = site.browser().get("/web/admin/audit", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/web/sign-in?next=/web/admin/audit"


def test_given_a_form_without_its_csrf_token_when_posted_then_it_is_refused_and_nothing_changes(
    site, admin
):
    bob = site.person("bob", ["reviewer"])
    created = machine_keys.create_key(
        site.runtime, "svc", "service", META, actor_id=site.admin.id, actor_roles=("admin",)
    )

    attempts = [
        ("/web/admin/users", {"username": "mallory", "password": PASSWORD, "roles": ["admin"]}),
        (f"/web/admin/users/{bob.id}/roles", {"role": "admin"}),
        (f"/web/admin/users/{bob.id}/disable", {"confirm": "yes"}),
        ("/web/admin/keys", {"name": "stolen", "role": "service"}),
        (f"/web/admin/keys/{created.view.prefix}/revoke", {"confirm": "yes"}),
    ]
    for path, data in attempts:
        assert admin.post(path, data=data).status_code == 403, path
        assert admin.post(path, data={**data, "csrf": "forged"}).status_code == 403, path

    assert "mallory" not in [user.username for user in accounts.list_users(site.runtime)]
    assert site.roles_of("bob") == ["reviewer"]
    assert accounts.get_user(site.runtime, bob.id).is_active
    assert [(k.name, k.revoked_at) for k in machine_keys.list_keys(site.runtime)] == [("svc", None)]
    assert "web:csrf" in site.audit_actions()


def test_given_a_notice_link_naming_nothing_listed_when_opened_then_it_shows_no_notice(site, admin):
    for query in (
        {"done": "user-created", "user": "Your account is locked, call +1 555 0100"},
        {"done": "Your account is locked", "user": site.admin.id},
        {"done": "role-granted", "user": site.admin.id, "role": "<b>root</b>"},
    ):
        page = admin.get("/web/admin/users", params=query)
        assert page.status_code == 200
        assert notice_of(page.text) == ""
        assert "locked" not in page.text and "<b>root" not in page.text


def test_given_each_admin_page_when_rendered_then_every_control_has_a_label_and_no_inline_code(
    site, admin
):
    site.person("bob", ["reviewer"])
    pages = [
        admin.get("/web/admin/users"),
        post_form(admin, "/web/admin/users", "/web/admin/users", {"username": "x"}),
        post_form(admin, "/web/admin/keys", "/web/admin/keys", {"name": "n", "role": "service"}),
        admin.get("/web/admin/keys"),
        admin.get("/web/admin/audit", params={"until": "tomorrow"}),
    ]

    for page in pages:
        assert page.headers["content-type"].startswith("text/html")
        text = page.text
        assert "style=" not in text and "<script" not in text
        labelled = set(re.findall(r'<label for="([^"]+)"', text))
        controls = re.findall(r"<(?:input|select)\b([^>]*)>", text)
        for attributes in controls:
            if 'type="hidden"' in attributes:
                continue
            control_id = re.search(r'id="([^"]+)"', attributes)
            assert control_id and control_id.group(1) in labelled, attributes
        for described in re.findall(r'aria-describedby="([^"]+)"', text):
            for target in described.split():
                assert f'id="{target}"' in text, target
