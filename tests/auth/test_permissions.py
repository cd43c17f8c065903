"""The role x permission matrix, checked pair by pair against an explicit table."""

from __future__ import annotations

import pytest

from auth.permissions import (
    ROLE_PERMISSIONS,
    ROLES_REQUIRING_2FA,
    Permission,
    Role,
    has_permission,
    may_grant_role,
    permission_matrix_markdown,
    permissions_for,
    requires_2fa,
)

# Written out by hand on purpose: a change to the matrix must change this table too.
EXPECTED: dict[str, set[str]] = {
    "admin": {
        "score",
        "predict_emotion",
        "pull_edge_model",
        "post_edge_events",
        "create_api_key",
        "revoke_api_key",
        "manage_users",
        "promote_model",
        "review_model",
        "trigger_retraining",
        "read_audit",
        "read_models",
        "read_edge_hosts",
        "submit_outcomes",
    },
    "ml_engineer": {
        "score",
        "predict_emotion",
        "trigger_retraining",
        "read_models",
        "create_api_key",
        "review_model",
        "submit_outcomes",
    },
    "reviewer": {"review_model", "promote_model", "read_models"},
    "credit_officer": {"score", "read_models"},
    "service": {"score", "predict_emotion", "read_models", "submit_outcomes"},
    "edge_device": {"pull_edge_model", "post_edge_events"},
}
ALL_PERMISSIONS = sorted(EXPECTED["admin"])


def test_given_enums_when_listed_then_match_the_expected_table():
    assert {r.value for r in Role} == set(EXPECTED)
    assert {p.value for p in Permission} == set(ALL_PERMISSIONS)


@pytest.mark.parametrize("role", sorted(EXPECTED))
@pytest.mark.parametrize("permission", ALL_PERMISSIONS)
def test_given_role_when_checking_permission_then_matches_matrix(role, permission):
    expected = permission in EXPECTED[role]
    assert has_permission([role], permission) is expected
    assert (Permission(permission) in ROLE_PERMISSIONS[Role(role)]) is expected


def test_given_several_roles_when_resolved_then_union_of_permissions():
    assert permissions_for(["reviewer", "service"]) == EXPECTED["reviewer"] | EXPECTED["service"]


@pytest.mark.parametrize("roles", [[], ["root"], ["Admin"], [" admin"], ["superuser", ""]])
def test_given_unknown_roles_when_resolved_then_nothing_granted(roles):
    assert permissions_for(roles) == frozenset()
    assert not has_permission(roles, Permission.SCORE)


def test_given_unknown_role_beside_known_when_resolved_then_only_known_counts():
    assert permissions_for(["edge_device", "root"]) == EXPECTED["edge_device"]


def test_given_single_string_when_resolved_then_type_error_not_silent_chars():
    with pytest.raises(TypeError):
        permissions_for("admin")


def test_given_unknown_permission_name_when_checked_then_denied():
    assert not has_permission(["admin"], "delete_everything")


def test_given_2fa_roles_then_every_human_role():
    assert ROLES_REQUIRING_2FA == {
        Role.ADMIN, Role.ML_ENGINEER, Role.REVIEWER, Role.CREDIT_OFFICER
    }  # fmt: skip
    assert requires_2fa(["service", "reviewer"])
    assert not requires_2fa(["service", "edge_device", "root"])


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_given_admin_when_granting_any_role_then_allowed(role):
    assert may_grant_role(["admin"], role)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("service", True),
        ("edge_device", True),
        ("admin", False),
        ("ml_engineer", False),
        ("reviewer", False),
        ("credit_officer", False),
    ],
)
def test_given_ml_engineer_when_granting_then_only_machine_roles(role, allowed):
    assert may_grant_role(["ml_engineer"], role) is allowed


@pytest.mark.parametrize(
    "granter", ["reviewer", "credit_officer", "service", "edge_device", "root"]
)
@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_given_other_roles_when_granting_then_denied(granter, role):
    assert not may_grant_role([granter], role)


def test_given_unknown_target_role_when_granting_then_denied():
    assert not may_grant_role(["admin"], "root")


def test_given_matrix_when_rendered_then_every_role_and_permission_listed():
    markdown = permission_matrix_markdown()
    for role in EXPECTED:
        assert f"`{role}`" in markdown
    rows = {
        line.split("|")[1].strip(" `"): line
        for line in markdown.splitlines()
        if line.startswith("| `")
    }
    assert set(rows) == set(ALL_PERMISSIONS)
    header = markdown.splitlines()[0].split("|")[2:-1]
    for permission, line in rows.items():
        cells = line.split("|")[2:-1]
        for role_cell, cell in zip(header, cells, strict=True):
            assert (cell.strip() == "✓") is (permission in EXPECTED[role_cell.strip(" `")])
