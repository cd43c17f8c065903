"""The reviewer's desk (``promote_model``): versions awaiting review beside the champion,
their evidence, and approve / reject / rollback with a comment and a fresh second-factor
code, through ``pipelines.release.review``: the rules of ``senim review`` (the version's
state, no self-approval, refusals move nothing, every decision audited), over HTTP, so a
reviewer needs a browser and an account, never the platform's MLflow credentials.

The service reads the registry with its own configuration (``MLFLOW_TRACKING_URI`` /
SENIM_HOME). An approval moves ``champion``; the registry follower (``senim deploy
follow``, the ``follow-registry`` flow) deploys it, as for any alias move.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request  # module level: FastAPI resolves the annotation

from auth.errors import AuthError
from auth.permissions import Permission
from pipelines.release.evidence import (
    EVIDENCE_DIR,
    FAIRNESS_MD,
    TAG_CARD_PATH,
    TAG_CARD_SHA,
    TAG_FAIRNESS_PATH,
)
from serving.web.session import WebSession, meta_of

FAIRNESS_MARKDOWN = f"{EVIDENCE_DIR}/{FAIRNESS_MD}"
# Set by ``senim deploy shadow-report credit`` (pipelines.credit.shadow_report), JSON
# beside its Markdown rendering.
TAG_SHADOW_PATH = "evidence.shadow.path"

MAX_EVIDENCE_CHARS = 60_000


@dataclass
class VersionView:
    model: str
    version: str
    status: str
    trained_by: str
    created: str
    gate_reasons: list[str]
    metrics: list[tuple[str, str]] = field(default_factory=list)
    card: str = ""
    fairness: str = ""
    shadow: str = ""
    evidence_sha: str = ""


def reviewed_models(params: Any) -> list[str]:
    """The registries a reviewer decides on: those needing approval, else both families."""
    names = list(params.review.approval_required_for)
    for name in (params.registry.model_name, params.fer.registry.model_name):
        if name not in names:
            names.append(name)
    return names


def desk_for(web: Any) -> Any:
    from pipelines.common.mlflow_store import mlflow_client
    from pipelines.release.review import ReviewDesk
    from senim.environment import resolve_stores

    runtime = web.runtime
    return ReviewDesk(
        mlflow_client(resolve_stores()), runtime.sessions, web.params.review, runtime.audit
    )


def queue(web: Any) -> list[dict[str, Any]]:
    """Per model: its champion and the versions awaiting review."""
    from pipelines.release.registry import CHAMPION, model_exists
    from pipelines.release.review import AWAITING, STATUS

    desk = desk_for(web)
    out = []
    for model in reviewed_models(web.params):
        if not model_exists(desk.client, model):
            continue
        versions = desk.client.search_model_versions(f"name='{model}'")
        awaiting = sorted(
            (str(v.version) for v in versions if (v.tags or {}).get(STATUS) == AWAITING),
            key=int,
        )
        champion = _alias(desk.client, model, CHAMPION)
        out.append({"model": model, "champion": champion, "awaiting": awaiting})
    return out


def version_view(
    desk: Any, model: str, version: str, folds: int = 5, evidence: bool = True
) -> VersionView:
    from pipelines.release.review import STATUS, TRAINED_BY

    found = desk.client.get_model_version(model, version)
    tags = found.tags or {}
    view = VersionView(
        model=model,
        version=str(found.version),
        status=tags.get(STATUS, "-"),
        trained_by=tags.get(TRAINED_BY, "-"),
        created=_when(found.creation_timestamp),
        gate_reasons=[line for line in tags.get("gate.reasons", "").splitlines() if line],
        evidence_sha=tags.get(TAG_CARD_SHA, ""),
    )
    if found.run_id:
        try:
            metrics = desk.client.get_run(found.run_id).data.metrics
        except Exception:  # noqa: BLE001 - a run deleted from the store: shown as missing
            metrics = {}
        view.metrics = _metrics_with_intervals(metrics, folds)
        if evidence:
            view.card = _artifact_text(desk.client, found.run_id, tags.get(TAG_CARD_PATH))
            if tags.get(TAG_FAIRNESS_PATH):  # the Markdown table of the reviewed JSON report
                view.fairness = _artifact_text(desk.client, found.run_id, FAIRNESS_MARKDOWN)
            shadow = tags.get(TAG_SHADOW_PATH, "")
            if shadow.endswith(".json"):  # a shadow report was attached (credit shadow mode)
                view.shadow = _artifact_text(desk.client, found.run_id, shadow[:-5] + ".md")
    return view


def _metrics_with_intervals(metrics: dict[str, float], folds: int) -> list[tuple[str, str]]:
    """Each metric; a cross-validated one (``cv_X_mean`` with ``cv_X_std``) as its fold
    mean with a 95% Student-t interval over ``folds`` folds, as the model card gives it."""
    from scipy import stats

    t = float(stats.t.ppf(0.975, max(1, folds - 1)))
    rows = []
    for name in sorted(metrics):
        if name.endswith("_std") or name.startswith("curve_"):
            continue
        value = metrics[name]
        if value is None or not math.isfinite(value):
            rows.append((name, "-"))
            continue
        spread = metrics.get(name[: -len("_mean")] + "_std") if name.endswith("_mean") else None
        if spread is not None and math.isfinite(spread) and folds > 1:
            half = t * spread / math.sqrt(folds)
            label = name[: -len("_mean")]
            rows.append((label, f"{value:.4f} [{value - half:.4f}, {value + half:.4f}]"))
        else:
            rows.append((name, f"{value:.4f}"))
    return rows


def _artifact_text(client: Any, run_id: str, path: str | None) -> str:
    import tempfile
    from pathlib import Path

    if not path:
        return ""
    try:
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(client.download_artifacts(run_id, path, tmp))
            return local.read_text(errors="replace")[:MAX_EVIDENCE_CHARS]
    except Exception as exc:  # noqa: BLE001 - evidence unreachable: say so on the page
        return f"(evidence could not be read: {type(exc).__name__})"


def _alias(client: Any, model: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(model, alias).version)
    except Exception:  # noqa: BLE001 - no such alias
        return None


def _when(millis: Any) -> str:
    from datetime import UTC, datetime

    if not millis:
        return "-"
    return datetime.fromtimestamp(int(millis) / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def decide_from_web(
    web: Any,
    session: WebSession,
    request: Any,
    model: str,
    version: str | None,
    decision: str,
    comment: str,
    code: str,
) -> Any:
    """Every check, then the decision: ReviewRefused or AuthError leave nothing moved."""
    from auth.login import confirm_step_up
    from pipelines.release import review as model_review

    desk = desk_for(web)
    if not comment.strip():
        raise model_review.ReviewRefused("say why in the comment (it is recorded)")
    if version is not None:
        model_review.reviewable_version(desk.client, model, version)
    reviewer = model_review.reviewer_from_database(desk.sessions, session.principal.subject)
    reviewer = model_review.Reviewer(
        reviewer.user_id, reviewer.username, reviewer.roles, session.access_token
    )
    if version is not None:
        model_review.check_decision(desk, reviewer, decision, model, version)
    confirm_step_up(web.runtime, reviewer.user_id, code, meta_of(request), f"review:{decision}")
    if version is None:
        return model_review.rollback(desk, reviewer, model, comment)
    return model_review.decide(desk, reviewer, decision, model, version, comment, via="web")


def add_reviewer_routes(app: Any, web: Any) -> None:
    from fastapi.responses import RedirectResponse
    from starlette.concurrency import run_in_threadpool

    from pipelines.release.review import ReviewRefused
    from senim.errors import RegistryError
    from serving.web.context import guard, posted

    @app.get("/web/review")
    async def review_queue(request: Request, done: str = "") -> Any:
        session = await guard(web, request, Permission.PROMOTE_MODEL)
        if not isinstance(session, WebSession):
            return session
        models = await run_in_threadpool(queue, web)
        return web.page(
            request,
            session,
            "review_queue.html",
            title="Review models",
            models=models,
            done=done[:300],
        )

    async def detail(
        request: Request,
        session: WebSession,
        model: str,
        version: str,
        status: int = 200,
        problems: dict | None = None,
        comment: str = "",
    ) -> Any:
        from pipelines.release.registry import CHAMPION

        def load() -> tuple[VersionView, VersionView | None]:
            desk = desk_for(web)
            folds = web.params.cv.n_splits
            candidate = version_view(desk, model, version, folds)
            champion = _alias(desk.client, model, CHAMPION)
            incumbent = None
            if champion and champion != version:
                incumbent = version_view(desk, model, champion, folds)
            return candidate, incumbent

        try:
            candidate, incumbent = await run_in_threadpool(load)
        except RegistryError as exc:
            return web.error(request, session, 404, "No such version", str(exc))
        except Exception as exc:  # noqa: BLE001 - MLflow's "not found" is a generic exception
            if "RESOURCE_DOES_NOT_EXIST" in str(exc) or "not found" in str(exc).lower():
                return web.error(
                    request, session, 404, "No such version", f"{model} has no version {version}"
                )
            raise
        return web.page(
            request,
            session,
            "review_version.html",
            status,
            title=f"{model} version {version}",
            candidate=candidate,
            champion=incumbent,
            problems=problems or {},
            comment=comment,
            require_2fa=web.params.review.require_2fa,
        )

    def not_reviewed(request: Request, session: WebSession, model: str, version: str) -> Any:
        return web.error(
            request,
            session,
            404,
            "No such version",
            f"{model} version {version} is not reviewed here",
        )

    @app.get("/web/review/{model}/{version}")
    async def review_version(request: Request, model: str, version: str) -> Any:
        session = await guard(web, request, Permission.PROMOTE_MODEL)
        if not isinstance(session, WebSession):
            return session
        if model not in reviewed_models(web.params) or not version.isdigit():
            return not_reviewed(request, session, model, version)
        return await detail(request, session, model, version)

    @app.post("/web/review/{model}/{version}")
    async def review_decision(request: Request, model: str, version: str) -> Any:
        session, form = await posted(web, request, Permission.PROMOTE_MODEL)
        if form is None:
            return session
        rollback = version == "rollback"
        if model not in reviewed_models(web.params) or not (rollback or version.isdigit()):
            return not_reviewed(request, session, model, version)
        decision = "rollback" if rollback else str(form.get("decision", ""))
        if decision not in ("approve", "reject", "rollback"):
            return web.error(request, session, 422, "Unknown decision", "decide approve or reject")
        comment = str(form.get("comment", ""))[:2000]
        code = str(form.get("code", ""))[:64]
        try:
            result = await run_in_threadpool(
                decide_from_web,
                web,
                session,
                request,
                model,
                None if rollback else version,
                decision,
                comment,
                code,
            )
        except AuthError as exc:
            problems = {
                "code": exc.message
                if exc.code != "totp_invalid"
                else "that code is not valid or was already used: enter the next one"
            }
            if rollback:
                return web.error(request, session, exc.status, "Rollback refused", problems["code"])
            return await detail(request, session, model, version, exc.status, problems, comment)
        except ReviewRefused as exc:
            status = 409
            if rollback:
                return web.error(request, session, status, "Rollback refused", str(exc))
            problems = {"comment": str(exc)} if "comment" in str(exc) else {"decision": str(exc)}
            return await detail(
                request,
                session,
                model,
                version,
                status if "comment" not in problems else 422,
                problems,
                comment,
            )
        done = (
            f"{result.model} version {result.version} {result.status}; champion is now "
            f"version {result.champion or 'none'}"
        )
        from urllib.parse import quote

        return web.finish(
            RedirectResponse(f"/web/review?done={quote(done)}", status_code=303), session
        )


__all__ = ["add_reviewer_routes"]
