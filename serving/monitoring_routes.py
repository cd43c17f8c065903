"""``GET /v1/monitoring/<family>/report`` on each service's platform app: the family's
latest monitoring report as HTML (``read_models``), or its summary with ``?format=json``.
"""

from __future__ import annotations

from typing import Any

REPORT_PATH = "/v1/monitoring/{family}/report"


def add_report_route(app: Any, family: str) -> None:
    """``GET /v1/monitoring/<family>/report`` for this service's family."""
    from fastapi.responses import HTMLResponse, JSONResponse, Response

    from pipelines.release.drift_report import REPORT_HTML, latest_report
    from senim.environment import resolve_stores

    @app.get(REPORT_PATH.format(family=family), tags=["monitoring"], response_model=None)
    def get_report(format: str = "html") -> Response:
        """The latest monitoring report of this family (HTML, or ``?format=json``)."""
        if format not in ("html", "json"):
            return problem(422, "invalid_request", "format must be html or json", "format")
        latest = latest_report(resolve_stores().home, family)
        if latest is None:
            return problem(
                404, "not_found", f"no {family} monitoring report yet (senim monitor run {family})"
            )
        directory, summary = latest
        if format == "json":
            return JSONResponse(json_safe(summary))
        html = directory / REPORT_HTML
        if not html.is_file():
            return problem(404, "not_found", "the latest report has too few rows for HTML")
        try:
            page = html.read_text(encoding="utf-8")
        except OSError as exc:
            return problem(503, "unavailable", f"the report cannot be read now: {exc.strerror}")
        # The report is self-contained (its scripts inline): no CDN, nothing fetched.
        return HTMLResponse(page)

    del get_report  # registered on the app


def json_safe(summary: Any) -> dict[str, Any]:
    """The summary as JSON a response can carry: a NaN or infinity becomes null."""
    import json

    return json.loads(summary.to_json(), parse_constant=lambda _: None)


def problem(status: int, code: str, message: str, field: str | None = None):
    from fastapi.responses import JSONResponse

    body: dict[str, Any] = {"error": code, "message": message}
    if field:
        body["fields"] = [{"field": field, "problem": message}]
    return JSONResponse(body, status_code=status)
