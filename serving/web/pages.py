"""Rendering: Jinja2 templates (autoescaped) and the headers every page carries.

The Content-Security-Policy allows nothing but this origin's own stylesheet, forms that
post back to it, and images drawn inline (the charts are SVG in the page, the 2FA code a
``data:`` PNG): no script at all, no inline style, no CDN, no frames.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


@cache
def environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda value: f"{100 * float(value):.1f}%"
    env.filters["num"] = _number
    env.filters["score"] = _score
    return env


def render(name: str, status: int = 200, **context: Any) -> Any:
    """An HTML response of template ``name`` with the security headers."""
    from fastapi.responses import HTMLResponse

    html = environment().get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def _score(value: Any, scoring: Any) -> str:
    from serving.web.charts import shown_score

    if value is None:
        return "-"
    return shown_score(float(value), scoring.approve_min_score, scoring.reject_max_score)


def _number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{number:.0f}"
