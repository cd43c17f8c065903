"""``senim review`` (approve, reject, rollback, wait) and ``senim models history``.

A reviewer signs in as themselves: username, password (prompted without echo, or
``SENIM_REVIEW_PASSWORD`` for automation) and ``--totp`` when ``review.require_2fa``;
``auth.login`` applies lockout, rate limits and audit. Every check (the version's state,
PROMOTE_MODEL, self-approval) runs before anything moves. When a paused ``review-model``
flow run waits on the version, the decision is handed to it instead of applied here.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

review_app = typer.Typer(
    help="Human review of registered models: approve, reject, roll back.", no_args_is_help=True
)
models_app = typer.Typer(help="Registered models: alias history.", no_args_is_help=True)

out = Console(soft_wrap=True)
PASSWORD_ENV = "SENIM_REVIEW_PASSWORD"

ModelArg = Annotated[str, typer.Argument(help="Registered model, e.g. credit-rating.")]
VersionArg = Annotated[str, typer.Argument(help="Model version number.")]
CommentOption = Annotated[
    str, typer.Option("--comment", help="Why: recorded on the version, in history and audit.")
]
UsernameOption = Annotated[str, typer.Option("--username", help="The reviewer's login name.")]
TotpOption = Annotated[
    str | None,
    typer.Option("--totp", help="Current 6-digit code (required when review.require_2fa)."),
]


@contextmanager
def _review_session():
    """Stores checked reachable, the auth runtime, and the review params."""
    from auth.runtime import AuthRuntime
    from pipelines.common.mlflow_store import check_reachable, mlflow_client
    from pipelines.release.review import ReviewDesk
    from senim.config import load_params
    from senim.environment import prepare_home, resolve_stores

    stores = resolve_stores()
    prepare_home(stores)
    review = load_params(stores.params_path).review
    check_reachable(stores)
    runtime = AuthRuntime.from_environment()
    try:
        desk = ReviewDesk(mlflow_client(stores), runtime.sessions, review, runtime.audit)
        yield runtime, desk
    finally:
        runtime.close()


def _password() -> str:
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    return typer.prompt("Password", hide_input=True)


def _decide(decision: str, model: str, version: str, comment: str, username: str, totp) -> None:
    from flows.review_model import ReviewInput, find_paused_review, resume_review
    from pipelines.release import review as model_review

    if not comment.strip():
        raise model_review.ReviewRefused("--comment must say why (it is recorded)")
    with _review_session() as (runtime, desk):
        if desk.review.require_2fa and not totp:
            raise model_review.ReviewRefused(
                "review decisions need two-factor authentication: pass --totp CODE"
            )
        model_review.reviewable_version(desk.client, model, version)  # before the code is spent
        reviewer = model_review.authenticate_reviewer(
            runtime, username, _password(), totp, desk.review
        )
        model_review.check_decision(desk, reviewer, decision, model, version)
        paused = find_paused_review(model, version)
        if paused is not None:
            answer = ReviewInput(
                decision=decision,
                reviewer_id=reviewer.user_id,
                reviewer=reviewer.username,
                comment=comment,
                access_token=reviewer.access_token or "",
            )
            resume_review(paused, answer)
            out.print(
                f"resumed review flow run {paused.flow_run_id}", markup=False, highlight=False
            )
        else:
            model_review.decide(desk, reviewer, decision, model, version, comment)
        tags = desk.client.get_model_version(model, version).tags or {}
    status = tags.get(model_review.STATUS)
    if decision == "approve":
        out.print(f"{model} version {version} {status}; champion is now version {version}")
    else:
        out.print(f"{model} version {version} {status}; challenger removed")
    _follow_promotion()


def _follow_promotion() -> None:
    """Deploy what champion names now where the family is deployed (running services
    swap to it); a failed deployment exits non-zero and the old version keeps serving."""
    from flows.deploy_service import FOLLOWED
    from pipelines.release.follow import follow_now
    from senim.config import load_params
    from senim.environment import resolve_stores

    stores = resolve_stores()
    follow_now(
        FOLLOWED,
        stores,
        load_params(stores.params_path),
        say=lambda line: out.print(line, markup=False, highlight=False),
    )


@review_app.command("approve")
def approve(
    model: ModelArg,
    version: VersionArg,
    comment: CommentOption,
    username: UsernameOption,
    totp: TotpOption = None,
) -> None:
    """Approve a version awaiting review: champion moves to it."""
    _decide("approve", model, version, comment, username, totp)


@review_app.command("reject")
def reject(
    model: ModelArg,
    version: VersionArg,
    comment: CommentOption,
    username: UsernameOption,
    totp: TotpOption = None,
) -> None:
    """Reject a version awaiting review: its challenger alias is removed."""
    _decide("reject", model, version, comment, username, totp)


@review_app.command("rollback")
def rollback(
    model: ModelArg, comment: CommentOption, username: UsernameOption, totp: TotpOption = None
) -> None:
    """Move champion back to the previous approved version (from the alias history)."""
    from pipelines.release import review as model_review

    if not comment.strip():
        raise model_review.ReviewRefused("--comment must say why (it is recorded)")
    with _review_session() as (runtime, desk):
        if desk.review.require_2fa and not totp:
            raise model_review.ReviewRefused(
                "rolling back needs two-factor authentication: pass --totp CODE"
            )
        reviewer = model_review.authenticate_reviewer(
            runtime, username, _password(), totp, desk.review
        )
        result = model_review.rollback(desk, reviewer, model, comment)
    out.print(
        f"{model}: champion rolled back from version {result.previous_champion} "
        f"to version {result.champion}"
    )
    _follow_promotion()


@review_app.command("wait")
def wait(
    model: ModelArg,
    version: VersionArg,
    timeout_hours: Annotated[
        float, typer.Option("--timeout-hours", min=0.01, help="Fail if nobody decides by then.")
    ] = 168.0,
) -> None:
    """Run the ``review-model`` flow: it pauses until `senim review approve|reject` resumes it."""
    from flows.review_model import review_model

    result = review_model(model, version, timeout_seconds=int(timeout_hours * 3600))
    out.print(f"{model} version {version}: {result['status']}")


@models_app.command("history")
def models_history(model: ModelArg) -> None:
    """Every alias move of MODEL, oldest first: gate, approve, reject, rollback, auto."""
    from pipelines.release.alias_history import history, open_history
    from senim.environment import prepare_home, resolve_stores

    stores = resolve_stores()
    prepare_home(stores)
    sessions = open_history(stores.database_url)
    moves = history(sessions, model)
    if not moves:
        from senim.errors import RegistryError

        raise RegistryError(f"no alias history for {model!r} (no gate or review has moved it)")
    names = _usernames(sessions, {move.actor for move in moves})
    # Narrow columns that never wrap, and the reason last, folded: fits 80 columns.
    table = Table(box=None, pad_edge=False)
    table.add_column("when (UTC)", no_wrap=True)
    table.add_column("move", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("who", no_wrap=True, max_width=16)
    table.add_column("why", overflow="fold", ratio=1)
    for move in moves:
        table.add_row(
            move.at.strftime("%Y-%m-%d %H:%M") if move.at else "-",
            f"{move.alias} {move.from_version or '-'}→{move.to_version or '-'}",
            move.action,
            names.get(move.actor, move.actor),
            move.reason,
        )
    out.print(table)


def _usernames(sessions, actors: set[str]) -> dict[str, str]:
    """Usernames for the actors that are user ids (reviewers); others stay as they are."""
    import sqlalchemy as sa

    from auth.models import User

    with sessions() as session:
        rows = session.execute(sa.select(User.id, User.username).where(User.id.in_(actors)))
        return {user_id: username for user_id, username in rows}
