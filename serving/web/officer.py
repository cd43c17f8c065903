"""The credit officer's pages (``score``): one application, a CSV file of many, and the
history of what this officer scored (from the prediction log), searchable and exportable.

Scoring is the served model's (``CreditScorer``, the same as ``POST /v1/credit/score``)
and each request is one prediction log event with the officer as caller, so the history,
monitoring and audit see web and API scoring alike.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from starlette.requests import Request  # module level: FastAPI resolves the annotation

from auth.permissions import Permission
from pipelines.credit.decision import DECISIONS
from pipelines.credit.rating_bands import BANDS
from serving.scoring_ledger import record_scoring
from serving.web.application_form import (
    ALL_FIELDS,
    COMPANY_FIELDS,
    RATIO_FIELDS,
    Parsed,
    parse_application,
    parse_csv,
    template_csv,
)
from serving.web.charts import Gauge, reason_bars
from serving.web.session import WebSession, meta_of

SCORE_ENDPOINTS = ("/v1/credit/score", "/v1/credit/score_batch", "/web/score", "/web/score/csv")
HISTORY_MAX_EVENTS = 10_000  # the newest this many of the officer's requests are searched
HISTORY_COLUMNS = (
    "scored_at",
    "company",
    "rating_band",
    "score",
    "decision",
    "model_version",
    "data_version",
    "request_id",
    "row",
    "via",
)


@dataclass(frozen=True)
class Scored:
    name: str
    result: Any  # serving.credit_schemas.CreditScore
    gauge: Gauge
    bars: list
    chart_height: int


@dataclass(frozen=True)
class HistoryFilters:
    q: str = ""
    band: str = ""
    decision: str = ""
    since: date | None = None
    until: date | None = None
    request_id: str = ""

    def query(self) -> str:
        from urllib.parse import urlencode

        pairs = {
            k: v
            for k, v in (
                ("q", self.q),
                ("band", self.band),
                ("decision", self.decision),
                ("request_id", self.request_id),
                ("since", self.since.isoformat() if self.since else ""),
                ("until", self.until.isoformat() if self.until else ""),
            )
            if v
        }
        return urlencode(pairs)


def score_applications(
    web: Any, parsed: list[Parsed], caller: str, endpoint: str, request_id: str
) -> list[Scored]:
    """Score with the served model and log it as one request; the result pages' data."""
    loaded = web.loaded
    applications = [p.application for p in parsed]
    started = time.perf_counter()
    scores = loaded.scorer.score(applications)
    scores = [
        s.model_copy(update={"lineage": s.lineage.model_copy(update={"request_id": request_id})})
        for s in scores
    ]
    names = [p.values.get("Name", "") for p in parsed]
    outputs = [
        {
            "rating_band": s.rating_band,
            "score": s.score,
            "decision": s.decision,
            **({"company": name} if name else {}),
        }
        for s, name in zip(scores, names, strict=True)
    ]
    record_scoring(
        loaded.ledger,
        caller=caller,
        endpoint=endpoint,
        inputs=[a.model_dump(by_alias=True, exclude_none=True) for a in applications],
        outputs=outputs,
        latency_ms=(time.perf_counter() - started) * 1000,
        request_id=request_id,
        answered_by=scores[0].lineage.model_version if scores else None,
    )
    scoring = web.params.scoring
    results = []
    for name, score in zip(names, scores, strict=True):
        bars, height = reason_bars([r.model_dump() for r in score.reasons])
        gauge = Gauge(score.score, scoring.reject_max_score, scoring.approve_min_score)
        results.append(Scored(name, score, gauge, bars, height))
    return results


def history(web: Any, caller: str, filters: HistoryFilters) -> list[dict[str, Any]]:
    """The officer's scored rows, newest first, filtered."""
    import json

    from senim.platform_db.tables import MonitoringRowRecord, PredictionLogRecord

    loaded = web.loaded
    loaded.prediction_log.flush()
    log = PredictionLogRecord.__table__
    query = (
        sa.select(
            log.c.at,
            log.c.request_id,
            log.c.endpoint,
            log.c.model_version,
            log.c.data_version,
            log.c.outputs,
        )
        .where(
            log.c.caller == caller,
            log.c.status == "ok",
            log.c.role == "live",
            log.c.endpoint.in_(SCORE_ENDPOINTS),
        )
        .order_by(log.c.at.desc(), log.c.id.desc())
        .limit(HISTORY_MAX_EVENTS)
    )
    if filters.since:
        query = query.where(log.c.at >= _midnight(filters.since))
    if filters.until:
        query = query.where(log.c.at < _midnight(filters.until) + timedelta(days=1))
    if filters.request_id:
        query = query.where(log.c.request_id == filters.request_id)
    runtime = loaded.runtime
    with runtime.sessions() as session:
        events = session.execute(query).all()
        ids = [e.request_id for e in events if e.request_id and not e.endpoint.startswith("/web")]
        companies: dict[tuple[str, int], str] = {}
        monitoring = MonitoringRowRecord.__table__
        for start in range(0, len(ids), 500):
            for row in session.execute(
                sa.select(
                    monitoring.c.request_id, monitoring.c.row_index, monitoring.c.company
                ).where(
                    monitoring.c.request_id.in_(ids[start : start + 500]),
                    monitoring.c.company.is_not(None),
                )
            ):
                companies[(row.request_id, row.row_index)] = row.company
    rows = []
    needle = filters.q.casefold()
    for event in events:
        for index, output in enumerate(json.loads(event.outputs)):
            company = output.get("company") or companies.get((event.request_id, index), "")
            row = {
                "scored_at": event.at.replace(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
                "company": company,
                "rating_band": output.get("rating_band", ""),
                "score": output.get("score"),
                "decision": output.get("decision", ""),
                "model_version": event.model_version,
                "data_version": event.data_version or "",
                "request_id": event.request_id or "",
                "row": index + 1,
                "via": "web" if event.endpoint.startswith("/web") else "API",
            }
            if needle and needle not in company.casefold() and needle not in row["request_id"]:
                continue
            if filters.band and row["rating_band"] != filters.band:
                continue
            if filters.decision and row["decision"] != filters.decision:
                continue
            rows.append(row)
    return rows


def parse_filters(query: Any) -> tuple[HistoryFilters, dict[str, str]]:
    problems: dict[str, str] = {}
    dates: dict[str, date | None] = {}
    for key in ("since", "until"):
        text = (query.get(key) or "").strip()
        dates[key] = None
        if text:
            try:
                dates[key] = date.fromisoformat(text)
            except ValueError:
                problems[key] = "a date as YYYY-MM-DD"
    band = (query.get("band") or "").strip()
    if band and band not in BANDS:
        problems["band"] = f"one of {', '.join(reversed(BANDS))}"
    decision = (query.get("decision") or "").strip()
    if decision and decision not in DECISIONS:
        problems["decision"] = f"one of {', '.join(DECISIONS)}"
    filters = HistoryFilters(
        q=(query.get("q") or "").strip()[:200],
        band=band if "band" not in problems else "",
        decision=decision if "decision" not in problems else "",
        since=dates["since"],
        until=dates["until"],
        request_id=(query.get("request_id") or "").strip()[:100],
    )
    return filters, problems


def history_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row[k]) for k in HISTORY_COLUMNS})
    return out.getvalue()


def _cell(value: Any) -> Any:
    """No spreadsheet formulas from a company name (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)  # the log stores naive UTC


def add_officer_routes(app: Any, web: Any) -> None:
    from fastapi.responses import Response
    from starlette.concurrency import run_in_threadpool

    from serving.web.context import guard, posted

    def form_page(request, session, status=200, values=None, problems=None, notice=""):
        return web.page(
            request,
            session,
            "score.html",
            status,
            title="Score an application",
            company_fields=COMPANY_FIELDS,
            ratio_fields=RATIO_FIELDS,
            values=values or {},
            problems=problems or {},
            notice=notice,
            max_rows=web.params.scoring.max_batch,
            scoring=web.params.scoring,
        )

    @app.get("/web/score")
    async def score_form(request: Request) -> Any:
        session = await guard(web, request, Permission.SCORE)
        if not isinstance(session, WebSession):
            return session
        return form_page(request, session)

    @app.post("/web/score")
    async def score_one(request: Request) -> Any:
        session, form = await posted(web, request, Permission.SCORE)
        if form is None:
            return session
        parsed = parse_application({k: v for k, v in form.items() if isinstance(v, str)})
        if parsed.application is None:
            return form_page(
                request,
                session,
                422,
                parsed.values,
                parsed.problems,
                notice=f"{len(parsed.problems)} field(s) need attention.",
            )
        request_id = meta_of(request).request_id or ""
        (scored,) = await run_in_threadpool(
            score_applications, web, [parsed], session.principal.label, "/web/score", request_id
        )
        return web.page(
            request,
            session,
            "score_result.html",
            title="Result",
            scored=scored,
            scoring=web.params.scoring,
        )

    @app.get("/web/score/template.csv")
    async def csv_template(request: Request) -> Any:
        session = await guard(web, request, Permission.SCORE)
        if not isinstance(session, WebSession):
            return session
        return web.finish(_csv_response(template_csv(), "senim-applications.csv"), session)

    @app.post("/web/score/csv")
    async def score_csv(request: Request) -> Any:
        session, form = await posted(web, request, Permission.SCORE)
        if form is None:
            return session
        upload = form.get("file")
        if upload is None or isinstance(upload, str) or not upload.filename:
            return form_page(request, session, 422, problems={"file": "choose a CSV file"})
        data = await upload.read(web.params.web.max_csv_bytes + 1)
        if len(data) > web.params.web.max_csv_bytes:
            return form_page(
                request,
                session,
                413,
                problems={
                    "file": f"the file is over {web.params.web.max_csv_bytes:,} bytes: split it"
                },
            )
        rows, file_problems = parse_csv(data, web.params.scoring.max_batch)
        if file_problems:
            return form_page(request, session, 422, problems={"file": file_problems[0]})
        bad = [(i + 1, p) for i, p in enumerate(rows) if p.application is None]
        if bad:
            return web.page(
                request,
                session,
                "score_csv_problems.html",
                422,
                title="The file was not scored",
                filename=upload.filename,
                bad=bad,
                total=len(rows),
                labels={f.name: f.label for f in ALL_FIELDS},
            )
        request_id = meta_of(request).request_id or ""
        scored = await run_in_threadpool(
            score_applications, web, rows, session.principal.label, "/web/score/csv", request_id
        )
        return web.page(
            request,
            session,
            "score_csv_result.html",
            title="Scored file",
            filename=upload.filename,
            scored=scored,
            request_id=request_id,
            scoring=web.params.scoring,
        )

    @app.get("/web/history")
    async def history_page(request: Request) -> Any:
        session = await guard(web, request, Permission.SCORE)
        if not isinstance(session, WebSession):
            return session
        filters, problems = parse_filters(request.query_params)
        rows = await run_in_threadpool(history, web, session.principal.label, filters)
        size = web.params.web.history_page_size
        try:
            page = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            page = 1
        pages = max(1, -(-len(rows) // size))
        page = min(page, pages)
        return web.page(
            request,
            session,
            "history.html",
            422 if problems else 200,
            title="Your scored applications",
            rows=rows[(page - 1) * size : page * size],
            total=len(rows),
            page=page,
            pages=pages,
            filters=filters,
            problems=problems,
            bands=list(reversed(BANDS)),
            decisions=DECISIONS,
            query=filters.query(),
            scoring=web.params.scoring,
        )

    @app.get("/web/history.csv")
    async def history_export(request: Request) -> Any:
        session = await guard(web, request, Permission.SCORE)
        if not isinstance(session, WebSession):
            return session
        filters, problems = parse_filters(request.query_params)
        if problems:
            field, problem = next(iter(problems.items()))
            return web.error(request, session, 422, "Export refused", f"{field}: {problem}")
        rows = await run_in_threadpool(history, web, session.principal.label, filters)
        return web.finish(_csv_response(history_csv(rows), "senim-history.csv"), session)

    def _csv_response(text: str, filename: str) -> Any:
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={
                "content-disposition": f'attachment; filename="{filename}"',
                "cache-control": "no-store",
                "x-content-type-options": "nosniff",
            },
        )
