"""Interactive API docs (Swagger UI) served from Senim's own files, never a CDN.

Services run on networks without internet, and a page that pulls an unpinned script
from a CDN runs whatever that CDN serves. The Swagger UI files come from the locked
``swagger-ui-bundle`` package; the page has no inline script, so it works under a
Content-Security-Policy that allows only this origin.
"""

from __future__ import annotations

import html
from typing import Any

# Swagger UI sets style attributes on its elements, so styles may be inline; scripts,
# connections and everything else come from this origin only.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

_INIT_JS = """\
// Starts Swagger UI on the OpenAPI document named by the page (no inline script: CSP).
const holder = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({
  url: holder.dataset.openapi,
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: false,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
"""


def docs_page(title: str, openapi_url: str, assets_url: str, init_url: str) -> str:
    """The HTML of a docs page: Swagger UI's CSS and script from ``assets_url``."""
    esc = html.escape
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<link rel="stylesheet" href="{esc(assets_url)}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi="{esc(openapi_url)}"></div>
<script src="{esc(assets_url)}/swagger-ui-bundle.js"></script>
<script src="{esc(init_url)}"></script>
</body>
</html>
"""


def add_docs(app: Any, *, title: str, docs_url: str, openapi_url: str) -> None:
    """Serve Swagger UI for ``app`` (FastAPI) at ``docs_url``, its files under
    ``docs_url/assets`` and the start-up script at ``docs_url/init.js``."""
    from fastapi.responses import HTMLResponse, Response
    from starlette.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path

    assets_url = f"{docs_url}/assets"
    init_url = f"{docs_url}/init.js"
    page = docs_page(title, openapi_url, assets_url, init_url)
    headers = {"Content-Security-Policy": DOCS_CSP}
    app.mount(assets_url, StaticFiles(directory=swagger_ui_path), name=f"{docs_url}-assets")

    def docs() -> HTMLResponse:
        return HTMLResponse(page, headers=headers)

    # With and without the slash: a server that mounts the app at ``docs_url`` hands it
    # ``docs_url/``, and redirecting back would loop.
    for path in (docs_url, f"{docs_url}/"):
        app.add_api_route(path, docs, methods=["GET"], include_in_schema=False)

    @app.get(init_url, include_in_schema=False)
    def docs_init() -> Response:
        return Response(_INIT_JS, media_type="text/javascript", headers=headers)
