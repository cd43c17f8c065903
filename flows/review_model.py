"""Prefect flow ``review-model``: wait, paused, for a reviewer's decision on one version.

The flow run is the visible "waiting for review" item in the Prefect UI. It pauses with
``pause_flow_run(wait_for_input=ReviewInput)``; ``senim review approve|reject``
authenticates the reviewer (password, TOTP, PROMOTE_MODEL), then resumes the paused run
with the decision and the sign-in's short-lived access token instead of acting itself, so
the flow run records who decided and runs the same approve/reject code
(``pipelines.release.review.decide``). The flow verifies that token (signature, expiry,
subject, second factor), so resuming from the Prefect UI or API without a reviewer's
sign-in is refused; then it reloads the reviewer's roles from the auth database and
re-checks every refusal before anything moves.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Literal
from uuid import UUID

from prefect import flow
from prefect.input import RunInput

from senim.errors import SenimError, StoreUnreachableError

FLOW_NAME = "review-model"
WEEK_SECONDS = 7 * 24 * 3600


class ReviewInput(RunInput):
    """What a reviewer hands the paused run; ``reviewer_id`` is an authenticated user id."""

    decision: Literal["approve", "reject"]
    reviewer_id: str
    reviewer: str
    comment: str
    access_token: str  # the reviewer's sign-in (JWT), verified by the flow


@flow(name=FLOW_NAME, flow_run_name="review-{model}-v{version}", log_prints=True)
def review_model(
    model: str, version: str, timeout_seconds: int = WEEK_SECONDS, poll_seconds: int = 10
) -> dict:
    """Pause until a reviewer decides on ``model`` ``version``; then apply the decision.

    Refuses to pause for a version that is not awaiting review. Fails (nothing moved)
    when nobody decides within ``timeout_seconds``.
    """
    from prefect.flow_runs import pause_flow_run
    from prefect.runtime import flow_run

    from pipelines.release import review as model_review

    desk = _desk()
    model_review.reviewable_version(desk.client, model, version)
    print(
        f"{model} version {version} awaits review: "
        f"senim review approve|reject {model} {version} --comment ... --username ..."
    )
    marker = _waiting_marker(model, version)
    _write_marker(marker, str(flow_run.get_id()))
    try:
        answer = pause_flow_run(
            wait_for_input=ReviewInput, timeout=timeout_seconds, poll_interval=poll_seconds
        )
    finally:
        marker.unlink(missing_ok=True)
    _verify_sign_in(answer, desk.review)
    reviewer = model_review.reviewer_from_database(desk.sessions, answer.reviewer_id)
    result = model_review.decide(
        desk,
        reviewer,
        answer.decision,
        model,
        version,
        answer.comment,
        via=f"flow-run:{flow_run.get_id()}",
    )
    print(f"{model} version {version} {result.status} by {reviewer.username}: {answer.comment}")
    _follow_promotion()
    return asdict(result)


def _follow_promotion() -> None:
    """An approval moves champion: deploy it where the family is deployed (a failure
    fails this run; the previous version keeps serving)."""
    from flows.deploy_service import FOLLOWED
    from pipelines.release.follow import follow_now
    from senim.config import load_params
    from senim.environment import resolve_stores

    stores = resolve_stores()
    follow_now(FOLLOWED, stores, load_params(stores.params_path))


def _verify_sign_in(answer: ReviewInput, review) -> None:
    from auth.runtime import AuthRuntime
    from pipelines.release import review as model_review

    runtime = AuthRuntime.from_environment()
    try:
        model_review.verify_sign_in(runtime, answer.reviewer_id, answer.access_token, review)
    finally:
        runtime.close()


def _desk():
    from auth.audit import AuditLog
    from pipelines.common.mlflow_store import check_reachable, mlflow_client
    from pipelines.release.alias_history import open_history
    from pipelines.release.review import ReviewDesk
    from senim.config import load_params
    from senim.environment import resolve_stores

    stores = resolve_stores()
    check_reachable(stores)
    sessions = open_history(stores.database_url)
    review = load_params(stores.params_path).review
    return ReviewDesk(mlflow_client(stores), sessions, review, AuditLog(sessions))


def _waiting_marker(model: str, version: str):
    """``SENIM_HOME/reviews/<model>@<version>.json`` while a run waits on that version: a
    decision looks for a paused run only when one says it is waiting, so deciding costs no
    Prefect API start-up when nobody waits (the common case, and a 30 s one on 2 cores)."""
    from senim.environment import resolve_stores

    return resolve_stores().home / "reviews" / f"{model}@{version}.json"


def _write_marker(marker, flow_run_id: str) -> None:
    import json

    from prefect.settings import PREFECT_API_URL

    from senim.atomic_files import write_text_atomically

    payload = {"flow_run_id": flow_run_id, "api_url": PREFECT_API_URL.value()}
    write_text_atomically(marker, json.dumps(payload))


@dataclass(frozen=True)
class PausedReview:
    flow_run_id: UUID
    api_url: str | None  # the Prefect API the waiting run uses (None: the configured one)


def find_paused_review(model: str, version: str) -> PausedReview | None:
    """The paused ``review-model`` run waiting on this model version, if any: looked up
    on the Prefect API the waiting run uses (its marker says which), and not at all when
    no run is waiting. A marker whose run is gone (its process ended) is removed."""
    import json

    marker = _waiting_marker(model, version)
    try:
        waiting = json.loads(marker.read_text())
    except (FileNotFoundError, ValueError):
        return None
    api_url = waiting.get("api_url")
    try:
        with _prefect_api(api_url):
            run_id = _paused_run(model, version)
    except StoreUnreachableError:
        if api_url is None:
            raise
        marker.unlink(missing_ok=True)  # the waiting process (and its API) is gone
        return None
    return None if run_id is None else PausedReview(run_id, api_url)


def _prefect_api(api_url: str | None):
    """Use ``api_url`` for Prefect calls in this block (the waiting run's own API)."""
    import contextlib

    from prefect.settings import PREFECT_API_URL, temporary_settings

    if not api_url:
        return contextlib.nullcontext()
    return temporary_settings(updates={PREFECT_API_URL: api_url})


def _paused_run(model: str, version: str) -> UUID | None:
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    try:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
                ),
            )
    except Exception as exc:  # noqa: BLE001 - any API failure: say which store is down
        raise StoreUnreachableError(
            f"cannot reach the Prefect API to look for a paused review: "
            f"{str(exc).splitlines()[0][:200]}"
        ) from exc
    for run in runs:
        parameters = run.parameters or {}
        if parameters.get("model") == model and str(parameters.get("version")) == str(version):
            return run.id
    return None


def resume_review(paused: PausedReview, answer: ReviewInput, wait_seconds: float = 120.0) -> str:
    """Resume the paused run with ``answer`` and wait for it to finish; its final message.

    Raises SenimError when the run fails (e.g. it re-checked and refused) or is still
    running after ``wait_seconds``.
    """
    from prefect.flow_runs import resume_flow_run

    with _prefect_api(paused.api_url):
        resume_flow_run(paused.flow_run_id, run_input=answer.model_dump())
        return _wait_for_end(paused.flow_run_id, wait_seconds)


def _wait_for_end(flow_run_id: UUID, wait_seconds: float) -> str:
    from prefect import get_client

    deadline = time.monotonic() + wait_seconds
    with get_client(sync_client=True) as client:
        while True:
            state = client.read_flow_run(flow_run_id).state
            if state is not None and state.is_final():
                break
            if time.monotonic() > deadline:
                raise SenimError(
                    f"resumed review flow run {flow_run_id}, but it has not finished after "
                    f"{wait_seconds:g}s; check it in the Prefect UI"
                )
            time.sleep(0.5)
    if not state.is_completed():
        raise SenimError(
            f"review flow run {flow_run_id} ended {state.name}: {state.message or 'no message'}"
        )
    return state.message or "completed"
