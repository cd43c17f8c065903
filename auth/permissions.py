"""Roles, permissions and who may grant which role.

The matrix is data (``ROLE_PERMISSIONS``), not ``if role == ...`` scattered through
handlers, so the README table is generated from it and can never drift. Decisions:

* ``admin`` holds every permission and is the only role that grants human roles.
* ``ml_engineer`` may call ``create_api_key`` but only for machine roles
  (``service``, ``edge_device``; see ``GRANTABLE_ROLES``): engineers wire up their
  own services and devices without being able to mint admins or reviewers.
* ``reviewer`` approves and promotes models but cannot train or score: the person who
  signs off is not the one who produced the candidate (separation of duties).
* ``service`` and ``edge_device`` are API-key identities with the least they need.
* Human roles that can change models or keys (admin, ml_engineer, reviewer) need 2FA;
  reviewer is included because approving a promotion must be a second-factor action.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType


class Role(StrEnum):
    ADMIN = "admin"
    ML_ENGINEER = "ml_engineer"
    REVIEWER = "reviewer"
    CREDIT_OFFICER = "credit_officer"  # a person scoring applications (web pages or API)
    SERVICE = "service"
    EDGE_DEVICE = "edge_device"


class Permission(StrEnum):
    SCORE = "score"
    PREDICT_EMOTION = "predict_emotion"
    PULL_EDGE_MODEL = "pull_edge_model"
    POST_EDGE_EVENTS = "post_edge_events"
    CREATE_API_KEY = "create_api_key"
    REVOKE_API_KEY = "revoke_api_key"
    MANAGE_USERS = "manage_users"
    PROMOTE_MODEL = "promote_model"
    REVIEW_MODEL = "review_model"
    TRIGGER_RETRAINING = "trigger_retraining"
    READ_AUDIT = "read_audit"
    READ_MODELS = "read_models"
    READ_EDGE_HOSTS = "read_edge_hosts"
    SUBMIT_OUTCOMES = "submit_outcomes"  # realised ratings for logged predictions (monitoring)


ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.ADMIN: frozenset(Permission),
        Role.ML_ENGINEER: frozenset(
            {
                Permission.SCORE,
                Permission.PREDICT_EMOTION,
                Permission.TRIGGER_RETRAINING,
                Permission.READ_MODELS,
                Permission.CREATE_API_KEY,
                Permission.REVIEW_MODEL,
                Permission.SUBMIT_OUTCOMES,
            }
        ),
        Role.REVIEWER: frozenset(
            {Permission.REVIEW_MODEL, Permission.PROMOTE_MODEL, Permission.READ_MODELS}
        ),
        Role.CREDIT_OFFICER: frozenset({Permission.SCORE, Permission.READ_MODELS}),
        Role.SERVICE: frozenset(
            {
                Permission.SCORE,
                Permission.PREDICT_EMOTION,
                Permission.READ_MODELS,
                Permission.SUBMIT_OUTCOMES,  # loan origination reports what was realised
            }
        ),
        Role.EDGE_DEVICE: frozenset({Permission.PULL_EDGE_MODEL, Permission.POST_EDGE_EVENTS}),
    }
)

ROLES_REQUIRING_2FA: frozenset[Role] = frozenset(
    {Role.ADMIN, Role.ML_ENGINEER, Role.REVIEWER, Role.CREDIT_OFFICER}
)

# Which roles each role may hand out (to a user or an API key).
GRANTABLE_ROLES: Mapping[Role, frozenset[Role]] = MappingProxyType(
    {
        Role.ADMIN: frozenset(Role),
        Role.ML_ENGINEER: frozenset({Role.SERVICE, Role.EDGE_DEVICE}),
        Role.REVIEWER: frozenset(),
        Role.CREDIT_OFFICER: frozenset(),
        Role.SERVICE: frozenset(),
        Role.EDGE_DEVICE: frozenset(),
    }
)


def _known_roles(roles: Iterable[str]) -> set[Role]:
    """Roles from stored/claimed names; unknown names are dropped, never guessed at."""
    if isinstance(roles, str):
        raise TypeError("roles must be a collection of role names, not one string")
    known = {role.value for role in Role}
    return {Role(name) for name in roles if name in known}


def permissions_for(roles: Iterable[str]) -> frozenset[Permission]:
    """Union of the permissions of the known roles; an unknown role grants nothing."""
    granted: set[Permission] = set()
    for role in _known_roles(roles):
        granted |= ROLE_PERMISSIONS[role]
    return frozenset(granted)


def has_permission(roles: Iterable[str], permission: Permission | str) -> bool:
    return permission in permissions_for(roles)


def requires_2fa(roles: Iterable[str]) -> bool:
    """True when any held role must log in with a second factor."""
    return bool(_known_roles(roles) & ROLES_REQUIRING_2FA)


def may_grant_role(granter_roles: Iterable[str], role: Role | str) -> bool:
    """Whether someone holding ``granter_roles`` may give ``role`` to a user or key."""
    if role not in {r.value for r in Role}:
        return False
    return any(Role(role) in GRANTABLE_ROLES[granter] for granter in _known_roles(granter_roles))


def permission_matrix_markdown() -> str:
    """Markdown table (permissions x roles) generated from ``ROLE_PERMISSIONS``."""
    roles = list(Role)
    lines = [
        "| Permission | " + " | ".join(f"`{r}`" for r in roles) + " |",
        "|---|" + "|".join(":-:" for _ in roles) + "|",
    ]
    for permission in Permission:
        cells = ("✓" if permission in ROLE_PERMISSIONS[r] else "" for r in roles)
        lines.append(f"| `{permission}` | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "2FA required for: "
        + ", ".join(f"`{r}`" for r in roles if r in ROLES_REQUIRING_2FA)
        + ". Roles each role may grant: "
        + "; ".join(
            f"`{r}` → " + (", ".join(f"`{g}`" for g in Role if g in GRANTABLE_ROLES[r]) or "none")
            for r in roles
        )
        + "."
    )
    return "\n".join(lines) + "\n"
