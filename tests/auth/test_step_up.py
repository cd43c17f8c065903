"""A signed-in person proves presence again before a sensitive action (a review decision
from the browser): a fresh TOTP code or an unused recovery code, each once, audited."""

from __future__ import annotations

import pytest

from auth import login as login_flow
from auth.errors import TotpInvalid, TotpRequired
from auth.runtime import RequestMeta

META = RequestMeta(ip="203.0.113.5", user_agent="pytest", device_fingerprint="pytest")


def _outcomes(auth) -> list[tuple[str, str]]:
    from auth.audit import query

    auth.runtime.audit.flush()
    with auth.runtime.sessions() as session:
        rows = query(session, action="step-up:review:approve", limit=50)
        return [(row.outcome, (row.details or {}).get("reason", "")) for row in rows]


def test_given_a_fresh_code_when_confirmed_then_it_works_once_and_is_audited(auth):
    admin = auth.enrolled_admin()
    code = auth.next_code(admin)

    login_flow.confirm_step_up(auth.runtime, admin.user_id, code, META, "review:approve")
    with pytest.raises(TotpInvalid):
        login_flow.confirm_step_up(auth.runtime, admin.user_id, code, META, "review:approve")

    assert sorted(_outcomes(auth)) == [("failure", "totp_invalid"), ("success", "")]


def test_given_a_recovery_code_when_confirmed_then_it_is_spent(auth):
    admin = auth.enrolled_admin()
    recovery = admin.recovery_codes[0]

    login_flow.confirm_step_up(auth.runtime, admin.user_id, recovery, META, "review:approve")

    with pytest.raises(TotpInvalid):
        login_flow.confirm_step_up(auth.runtime, admin.user_id, recovery, META, "review:approve")


def test_given_no_code_when_confirmed_then_it_is_asked_for(auth):
    admin = auth.enrolled_admin()

    with pytest.raises(TotpRequired):
        login_flow.confirm_step_up(auth.runtime, admin.user_id, "", META, "review:approve")
