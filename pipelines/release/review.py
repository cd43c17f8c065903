"""Human review of registered model versions: approve, reject, roll back.

The automatic gate leaves a passing version as ``challenger`` with
``review.status=awaiting_review``; only a reviewer's approval moves ``champion`` (for the
registries in ``review.approval_required_for``). Every check runs before anything moves,
so a refused decision leaves aliases and tags exactly as they were. Each decision is
written to the alias history (``pipelines.release.alias_history``) and the audit log.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy.orm import Session, sessionmaker

from auth.audit import AuditEvent, AuditLog
from auth.models import normalize_username
from pipelines.release.alias_history import alias_move, history, record_moves
from pipelines.release.gate import GateDecision
from pipelines.release.registry import CHALLENGER, CHAMPION, current_alias
from senim.config import ReviewParams
from senim.errors import RegistryError, SenimError

TRAINED_BY = "trained_by"
STATUS = "review.status"
GATE = "review.gate"
REVIEWER = "review.reviewer"
COMMENT = "review.comment"
AT = "review.at"
EVIDENCE = "review.evidence"
EVIDENCE_PREFIX = "evidence."

AWAITING = "awaiting_review"
APPROVED = "approved"
REJECTED = "rejected"
AUTO_PROMOTED = "auto_promoted"
ROLLED_BACK = "rolled_back"
GATE_FAILED = "gate_failed"

Decision = Literal["approve", "reject"]
log = logging.getLogger(__name__)


class ReviewRefused(SenimError):
    """A review decision that policy or the version's state does not allow; nothing moved."""

    exit_code = 6


@dataclass(frozen=True)
class ReviewedDecision(GateDecision):
    """The gate's decision as the CLI prints it: a passing version that needs a reviewer
    is "awaiting review", not "promoted"."""

    awaiting_review: bool = False

    @property
    def label(self) -> str:
        return "awaiting review" if self.awaiting_review else super().label


@dataclass(frozen=True)
class Reviewer:
    """An authenticated person: ``user_id`` is what the audit log records as actor;
    ``access_token`` is the sign-in's short-lived JWT, the proof a paused review flow
    checks (a resume from the Prefect UI or API without it is refused)."""

    user_id: str
    username: str
    roles: tuple[str, ...]
    access_token: str | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class ReviewResult:
    model: str
    version: str
    status: str  # approved, rejected, or rolled_back (for the version rolled back from)
    champion: str | None  # where champion points afterwards
    previous_champion: str | None


@dataclass
class ReviewDesk:
    """What a decision needs: the registry, the platform database (history, users) and audit."""

    client: object  # MlflowClient
    sessions: sessionmaker[Session]
    review: ReviewParams
    audit: AuditLog
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


TRAINER_KEY_ENV = "SENIM_API_KEY"


def trained_by() -> str:
    """Who is training, from an identity something authenticated, never a free variable:

    - the flow's API key (``SENIM_API_KEY``, checked against the platform database): the
      user who minted it, or ``key:<prefix>`` for a key minted on the platform host;
    - else the operating-system account this process runs as (its real uid, which the
      OS authenticated; ``$USER`` and ``$SENIM_USER`` are anyone's to set).

    The reviewer who approves must not be this person (``review.forbid_self_approval``).
    """
    key = os.environ.get(TRAINER_KEY_ENV)
    if key:
        return key_owner(key.strip())
    if os.environ.get("SENIM_USER"):
        log.warning("SENIM_USER is ignored: the trainer is who authenticated, not a variable")
    return os_account()


def os_account() -> str:
    """The name of the account this process runs as (real uid)."""
    from senim.environment import process_account

    return process_account()


def key_owner(key: str) -> str:
    """The username that minted ``key`` (a valid, unrevoked API key in the platform
    database the environment names), else the key's label."""
    import sqlalchemy as sa

    from auth.errors import AuthError
    from auth.models import ApiKey, User
    from auth.principals import authenticate_api_key
    from auth.runtime import CLI_REQUEST, AuthRuntime

    runtime = AuthRuntime.from_environment()
    try:
        principal = authenticate_api_key(runtime, key, CLI_REQUEST)
        with runtime.sessions() as session:
            minted_by = session.scalar(
                sa.select(User.username)
                .join(ApiKey, ApiKey.created_by == User.id)
                .where(ApiKey.id == principal.subject)
            )
    except AuthError as exc:
        raise SenimError(f"{TRAINER_KEY_ENV}: {exc.message}") from None
    finally:
        runtime.close()
    return minted_by or principal.label


def approval_required(review: ReviewParams, model: str) -> bool:
    return model in review.approval_required_for


def reviewable_version(client, model: str, version: str):
    """The version, if a reviewer may decide on it now; else a clear error."""
    found = _version(client, model, version)
    tags = found.tags or {}
    status = tags.get(STATUS)
    if tags.get(GATE) == "failed" or status == GATE_FAILED:
        raise ReviewRefused(
            f"{model} version {version} failed the automatic gate; it cannot be reviewed "
            f"(gate reasons are on the version's gate.reasons tag)"
        )
    if status in (APPROVED, REJECTED, ROLLED_BACK):
        who = tags.get(REVIEWER, "someone")
        raise ReviewRefused(f"{model} version {version} was already {status} (by {who})")
    if status == AUTO_PROMOTED:
        raise ReviewRefused(
            f"{model} version {version} was promoted by the gate alone; there is nothing to review"
        )
    if status != AWAITING:
        raise ReviewRefused(
            f"{model} version {version} is not awaiting review (review.status is "
            f"{status or 'unset'}); only versions that passed the gate under review can be decided"
        )
    return found


def reviewer_from_database(sessions: sessionmaker[Session], user_id: str) -> Reviewer:
    """The reviewer as the platform database knows them now (active, current roles)."""
    import sqlalchemy as sa

    from auth.models import User, UserRole

    with sessions() as session:
        user = session.get(User, user_id)
        if user is None or not user.is_active:
            raise ReviewRefused(f"reviewer {user_id} is unknown or disabled")
        roles = tuple(
            sorted(
                session.scalars(sa.select(UserRole.role_name).where(UserRole.user_id == user_id))
            )
        )
        return Reviewer(user.id, user.username, roles)


def authenticate_reviewer(
    runtime, username: str, password: str, totp: str | None, review: ReviewParams
) -> Reviewer:
    """Sign in through ``auth.login`` (lockout, rate limits and audit apply), then require
    PROMOTE_MODEL and, when ``review.require_2fa``, a confirmed second factor."""
    from auth import accounts
    from auth.login import login
    from auth.permissions import Permission, has_permission
    from auth.runtime import CLI_REQUEST

    if review.require_2fa and not totp:
        raise ReviewRefused("review decisions need two-factor authentication: pass --totp CODE")
    pair = login(runtime, username, password, CLI_REQUEST, totp_code=totp or None)
    user = accounts.get_user(runtime, accounts.find_user_id(runtime, username))
    reviewer = Reviewer(user.id, user.username, tuple(user.roles), pair.access_token)
    if review.require_2fa and not user.totp_enrolled:
        _deny(runtime.audit, reviewer, "review", f"user:{user.id}", "2fa_not_enrolled")
        raise ReviewRefused(
            f"{user.username} has no two-factor authentication enrolled; enroll before reviewing"
        )
    if not has_permission(reviewer.roles, Permission.PROMOTE_MODEL):
        _deny(runtime.audit, reviewer, "review", f"user:{user.id}", "missing promote_model")
        raise ReviewRefused(
            f"{user.username} lacks permission promote_model (roles: "
            f"{', '.join(reviewer.roles) or 'none'}); ask an admin for the reviewer role"
        )
    return reviewer


def verify_sign_in(runtime, reviewer_id: str, access_token: str, review: ReviewParams) -> None:
    """A decision handed to a paused flow must carry the reviewer's own sign-in: a valid,
    unexpired access token for ``reviewer_id`` (with its second factor when
    ``review.require_2fa``). Whoever can resume flow runs cannot stand in for them."""
    from auth.errors import AuthError
    from auth.tokens import decode_access_token

    try:
        claims = decode_access_token(runtime.tokens, access_token, now=runtime.now())
    except (AuthError, ValueError) as exc:
        raise ReviewRefused(f"the review decision's sign-in proof is not valid: {exc}") from None
    if claims.subject != reviewer_id:
        raise ReviewRefused("the review decision's sign-in proof belongs to another user")
    if review.require_2fa and not claims.extra.get("mfa"):
        raise ReviewRefused("the review decision's sign-in was made without the second factor")


def check_decision(
    desk: ReviewDesk, reviewer: Reviewer, decision: Decision, model: str, version: str
):
    """Every refusal for ``decision``, with nothing moved: state, permission, self-approval."""
    from auth.permissions import Permission, has_permission

    found = reviewable_version(desk.client, model, version)
    resource = f"model:{model}/{version}"
    if not has_permission(reviewer.roles, Permission.PROMOTE_MODEL):
        _deny(desk.audit, reviewer, f"model:{decision}", resource, "missing promote_model")
        raise ReviewRefused(f"{reviewer.username} lacks permission promote_model")
    if decision == "approve" and desk.review.forbid_self_approval:
        trainer = trainer_of(desk.client, found)
        if trainer and normalize_username(trainer) == normalize_username(reviewer.username):
            _deny(desk.audit, reviewer, "model:approve", resource, "self_approval")
            raise ReviewRefused(
                f"{reviewer.username} trained {model} version {version} and may not approve it "
                f"(review.forbid_self_approval); another reviewer must"
            )
    return found


def decide(
    desk: ReviewDesk,
    reviewer: Reviewer,
    decision: Decision,
    model: str,
    version: str,
    comment: str,
    *,
    via: str = "cli",
) -> ReviewResult:
    """Approve (champion → version) or reject (challenger removed), after every check."""
    comment = _comment(comment)
    found = check_decision(desk, reviewer, decision, model, version)
    version = str(found.version)
    previous = _alias_version(desk.client, model, CHAMPION)
    challenger = _alias_version(desk.client, model, CHALLENGER)
    moves = []
    if decision == "approve":
        desk.client.set_registered_model_alias(model, CHAMPION, version)
        moves.append(
            alias_move(model, CHAMPION, previous, version, "approve", reviewer.username, comment)
        )
    if challenger == version:
        desk.client.delete_registered_model_alias(model, CHALLENGER)
        moves.append(
            alias_move(model, CHALLENGER, version, None, decision, reviewer.username, comment)
        )
    status = APPROVED if decision == "approve" else REJECTED
    _set_review_tags(desk, model, version, status, reviewer, comment, found.tags or {})
    record_moves(desk.sessions, moves)
    _audit(
        desk.audit,
        reviewer,
        f"model:{decision}",
        f"model:{model}/{version}",
        "success",
        comment=comment,
        via=via,
        previous_champion=previous,
    )
    champion = version if decision == "approve" else previous
    return ReviewResult(model, version, status, champion, previous)


def rollback(desk: ReviewDesk, reviewer: Reviewer, model: str, comment: str) -> ReviewResult:
    """champion → the newest earlier champion that is still approved; the version rolled
    back from is tagged ``rolled_back`` so a second rollback goes further back."""
    from auth.permissions import Permission, has_permission

    comment = _comment(comment)
    _registered_model(desk.client, model)
    resource = f"model:{model}"
    if not has_permission(reviewer.roles, Permission.PROMOTE_MODEL):
        _deny(desk.audit, reviewer, "model:rollback", resource, "missing promote_model")
        raise ReviewRefused(f"{reviewer.username} lacks permission promote_model")
    current = _alias_version(desk.client, model, CHAMPION)
    if current is None:
        raise ReviewRefused(f"{model} has no champion to roll back")
    target = previous_approved(desk, model, current)
    if target is None:
        raise ReviewRefused(
            f"{model} has no earlier approved champion in the alias history to roll back to "
            f"(champion is version {current})"
        )
    desk.client.set_registered_model_alias(model, CHAMPION, target)
    current_tags = _version(desk.client, model, current).tags or {}
    _set_review_tags(desk, model, current, ROLLED_BACK, reviewer, comment, current_tags)
    record_moves(
        desk.sessions,
        [alias_move(model, CHAMPION, current, target, "rollback", reviewer.username, comment)],
    )
    _audit(
        desk.audit,
        reviewer,
        "model:rollback",
        resource,
        "success",
        comment=comment,
        from_version=current,
        to_version=target,
    )
    return ReviewResult(model, current, ROLLED_BACK, target, current)


def previous_approved(desk: ReviewDesk, model: str, current: str) -> str | None:
    """The newest version that was champion before ``current`` and is still approved."""
    from mlflow.exceptions import MlflowException

    seen: set[str] = {current}
    for move in reversed(history(desk.sessions, model)):
        candidate = move.to_version
        if move.alias != CHAMPION or candidate is None or candidate in seen:
            continue
        seen.add(candidate)
        try:
            tags = desk.client.get_model_version(model, candidate).tags or {}
        except MlflowException:
            continue  # deleted since
        if tags.get(STATUS) in (APPROVED, AUTO_PROMOTED):
            return candidate
    return None


def trainer_of(client, version) -> str | None:
    """Who trained ``version``: its ``trained_by`` tag, else its run's."""
    tags = version.tags or {}
    if tags.get(TRAINED_BY):
        return tags[TRAINED_BY]
    run_id = getattr(version, "run_id", None)
    if not run_id:
        return None
    try:
        run_tags = client.get_run(run_id).data.tags
    except Exception:  # noqa: BLE001 - a missing run only means "unknown trainer"
        return None
    return run_tags.get(TRAINED_BY) or run_tags.get("mlflow.user")


def evidence_of(tags: dict[str, str]) -> dict[str, str]:
    """The version's ``evidence.*`` tags (artifact hashes), frozen into the decision."""
    return {k: v for k, v in sorted(tags.items()) if k.startswith(EVIDENCE_PREFIX)}


def _set_review_tags(desk, model, version, status, reviewer, comment, tags) -> None:
    values = {
        REVIEWER: reviewer.username,
        COMMENT: comment[:4900],
        AT: desk.clock().astimezone(UTC).isoformat(timespec="seconds"),
        EVIDENCE: json.dumps(evidence_of(tags), sort_keys=True)[:4900],
        STATUS: status,  # last: the status never claims a decision whose fields are missing
    }
    for key, value in values.items():
        desk.client.set_model_version_tag(model, version, key, value)


def _comment(comment: str) -> str:
    text = (comment or "").strip()
    if not text:
        raise ReviewRefused("--comment must say why (it is recorded with the decision)")
    return text


def _registered_model(client, model: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(model)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise RegistryError(f"no registered model named {model!r}") from None
        raise


def _version(client, model: str, version: str):
    from mlflow.exceptions import MlflowException

    _registered_model(client, model)
    if not str(version).isdigit():
        raise RegistryError(f"model version must be a number, got {version!r}")
    try:
        return client.get_model_version(model, str(version))
    except MlflowException as exc:
        if exc.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            raise RegistryError(f"{model} has no version {version}") from None
        raise


def _alias_version(client, model: str, alias: str) -> str | None:
    found = current_alias(client, model, alias)
    return None if found is None else str(found.version)


def _audit(audit: AuditLog, reviewer: Reviewer, action, resource, outcome, **details) -> None:
    from auth.runtime import CLI_REQUEST

    audit.record_sync(
        AuditEvent(
            actor=reviewer.user_id,
            action=action,
            resource=resource,
            outcome=outcome,
            client_ip=CLI_REQUEST.ip,
            user_agent=CLI_REQUEST.user_agent,
            details={"reviewer": reviewer.username, **details},
        )
    )


def _deny(audit: AuditLog, reviewer: Reviewer, action: str, resource: str, reason: str) -> None:
    _audit(audit, reviewer, action, resource, "denied", reason=reason)
