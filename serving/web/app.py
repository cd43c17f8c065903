"""The web application: one FastAPI app mounted in the credit service at ``/web``.

Built on first request (BentoML builds its mounts before the service loads), it reads the
loaded service per request: the auth runtime for sessions, the served model for the
officer's scoring, the prediction log for history. Routes live with their audience:
``sign_in`` (everyone), ``officer`` (``score``), ``reviewer`` (``promote_model``),
``admin`` (``manage_users``, ``read_audit``).
"""

from __future__ import annotations

from typing import Any

from auth.asgi import Receive, Scope, Send, send_json
from serving.web.context import NotReady, Web
from serving.web.pages import PAGE_HEADERS, STATIC, render

PREFIX = "/web"


def create_web_app(state: Any) -> Any:
    from fastapi import FastAPI, Request
    from fastapi.responses import FileResponse, RedirectResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from serving.web.admin import add_admin_routes
    from serving.web.officer import add_officer_routes
    from serving.web.reviewer import add_reviewer_routes
    from serving.web.sign_in import add_sign_in_routes

    web = Web(state)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(NotReady)
    async def not_ready(request: Request, exc: NotReady):
        return render(
            "error.html",
            503,
            session=None,
            nav=[],
            path=request.url.path,
            csrf="",
            title="Starting",
            message="The service is still loading; try again in a few seconds.",
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        title = "Not found" if exc.status_code == 404 else "Request refused"
        return render(
            "error.html",
            exc.status_code,
            session=None,
            nav=[],
            path=request.url.path,
            csrf="",
            title=title,
            message=str(exc.detail),
        )

    @app.get(PREFIX)
    async def root() -> Any:
        return RedirectResponse("/web/", status_code=303)

    @app.get(PREFIX + "/static/senim.css")
    async def stylesheet() -> Any:
        headers = {k: v for k, v in PAGE_HEADERS.items() if k != "cache-control"}
        return FileResponse(STATIC / "senim.css", media_type="text/css", headers=headers)

    add_sign_in_routes(app, web)
    add_officer_routes(app, web)
    add_reviewer_routes(app, web)
    add_admin_routes(app, web)
    return app


class LazyWebApp:
    """The ASGI app BentoML mounts at ``/web``: built on first use, routing on full paths."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self._app: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return
        loaded = self.state.loaded
        if loaded is not None and not loaded.params.web.enabled:
            await send_json(send, 404, {"error": "not_found", "message": "web.enabled is false"})
            return
        if self._app is None:
            self._app = create_web_app(self.state)
        await self._app({**scope, "root_path": ""}, receive, send)


__all__ = ["LazyWebApp", "create_web_app"]
