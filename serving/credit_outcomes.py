"""``POST /v1/credit/outcomes`` on the credit service (``submit_outcomes``): realised
ratings attached to logged predictions, all or nothing; bad input is a 422 naming each
outcome and field (``pipelines.credit.outcomes``)."""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request  # module level: FastAPI resolves the annotation

from serving.monitoring_routes import add_report_route, problem

logger = logging.getLogger(__name__)

OUTCOMES_PATH = "/v1/credit/outcomes"


def extend_credit_app(app: Any, runtime: Any, state: Any) -> None:
    """The credit service's own platform routes: outcomes in, its monitoring report out."""
    add_outcomes_route(app, runtime)
    add_report_route(app, "credit")


def add_outcomes_route(app: Any, runtime: Any) -> None:
    """``POST /v1/credit/outcomes``: ``{"outcomes": [{request_id, row?, Rating|band}, ...]}``
    or by ``Name`` and ``Date``; answers how many predictions received an outcome."""
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    from pipelines.credit.outcomes import FAMILY, parse_outcomes_checked
    from pipelines.release.monitoring_audit import audit_outcomes
    from pipelines.release.monitoring_store import OutcomesRejected, attach_outcomes
    from senim.errors import DataError

    def attach(records: list[Any], actor: str, request_id: str | None, replace: bool):
        outcomes, problems = parse_outcomes_checked(records, origin="outcomes")
        result = attach_outcomes(
            runtime.sessions, FAMILY, outcomes, by=actor, origin="outcomes", replace=replace,
            problems=problems,
        )  # fmt: skip
        audit_outcomes(
            runtime.sessions, actor, FAMILY, "POST /v1/credit/outcomes", result, request_id
        )
        return result

    @app.post(OUTCOMES_PATH, tags=["monitoring"], response_model=None)
    async def post_outcomes(request: Request) -> JSONResponse:
        """Attach realised ratings to logged predictions (``submit_outcomes``)."""
        # The auth layer's body limit (auth.max_body_bytes, 64 KiB: about 700 outcomes)
        # applies before this route; larger batches go through `senim credit outcomes`.
        body = await request.body()
        try:
            parsed = json.loads(body)
        except ValueError as exc:
            return problem(400, "invalid_json", f"the body is not JSON: {exc}")
        if not isinstance(parsed, dict) or not isinstance(parsed.get("outcomes"), list):
            return problem(422, "invalid_request", 'send {"outcomes": [...]}', "outcomes")
        unknown = [key for key in parsed if key not in ("outcomes", "replace")]
        if unknown or not isinstance(parsed.get("replace", False), bool):
            field = unknown[0] if unknown else "replace"
            return problem(422, "invalid_request", f"unknown or invalid field {field!r}", field)
        principal = request.scope.get("state", {}).get("principal")
        actor = getattr(principal, "label", "anonymous")
        request_id = request.scope.get("state", {}).get("request_id")
        try:
            result = await run_in_threadpool(
                attach, parsed["outcomes"], actor, request_id, parsed.get("replace", False)
            )
        except OutcomesRejected as exc:
            return JSONResponse(
                {
                    "error": "invalid_outcomes",
                    "message": str(exc),
                    "fields": [
                        {"field": f"{where}.{field}", "problem": problem}
                        for where, field, problem in exc.problems
                    ],
                },
                status_code=422,
            )
        except DataError as exc:
            return problem(422, "invalid_outcomes", str(exc), "outcomes")
        except SQLAlchemyError as exc:
            logger.error("outcomes not attached: the platform database failed: %s", exc)
            return problem(503, "unavailable", "the platform database is unavailable; retry")
        return JSONResponse(
            {
                "outcomes": result.outcomes,
                "attached": result.attached,
                "unchanged": result.unchanged,
            }
        )

    del post_outcomes
