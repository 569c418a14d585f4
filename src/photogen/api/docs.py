"""GET /v1, an index of the API; /docs (Swagger UI) and /redoc served from files in the fastapi-offline package: no CDN.

FastAPI's own pages load their scripts from a CDN and start them with inline scripts, so they
are blank offline and break the server's Content-Security-Policy. These pages load only files
from this server; the Swagger UI starter is a small script of its own. ReDoc styles itself with
inline <style> elements and searches in a blob: worker, so /redoc sends its own, wider policy
(still nothing from other hosts: ReDoc's "by Redocly" credit tries to load its logo from a CDN, and that
policy blocks it, so the credit shows without its image).
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"
REDOC_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "worker-src 'self' blob:; connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

SWAGGER_START = """window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({
    url: "%(openapi)s",
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
  });
});
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>%(title)s</title>
  <link rel="icon" href="%(assets)s/favicon.png">
  %(head)s
</head>
<body>
  %(body)s
</body>
</html>
"""


def mount_docs(app: FastAPI, *, openapi_url: str = "/openapi.json") -> None:
    """Call on an app made with docs_url=None and redoc_url=None."""
    static = resources.files("fastapi_offline") / "static"
    app.mount(ASSETS, StaticFiles(directory=str(static)), name="docs-assets")
    title = f"{app.title} {app.version}"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return HTMLResponse(PAGE % {
            "title": f"{title}: API docs",
            "assets": ASSETS,
            "head": f'<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">',
            "body": f'<div id="swagger-ui"></div>\n  <script src="{ASSETS}/swagger-ui-bundle.js"></script>\n'
                    f'  <script src="/docs/start.js"></script>',
        })

    @app.get("/docs/start.js", include_in_schema=False)
    def swagger_start() -> Response:
        return Response(SWAGGER_START % {"openapi": openapi_url}, media_type="text/javascript")

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        page = PAGE % {
            "title": f"{title}: API reference",
            "assets": ASSETS,
            "head": "",
            "body": f'<redoc spec-url="{openapi_url}"></redoc>\n  <script src="{ASSETS}/redoc.standalone.js"></script>',
        }
        return HTMLResponse(page, headers={"Content-Security-Policy": REDOC_POLICY})


def mount_index(app: FastAPI, *, openapi_url: str = "/openapi.json") -> None:
    """GET /v1: where everything is, read from the OpenAPI document so it never drifts."""
    from photogen import __version__

    @app.get("/v1", summary="Index of the API: endpoints, docs, OpenAPI, health, version",
             response_description="Links to the API's endpoints and documentation.")
    def api_index() -> dict:
        paths = app.openapi().get("paths", {})
        endpoints = [
            {"path": path, "methods": sorted(m.upper() for m in operations),
             "summary": next((op.get("summary", "") for op in operations.values()), "")}
            for path, operations in paths.items() if path.startswith("/v1/")
        ]
        return {
            "name": app.title,
            "version": __version__,
            "links": {"health": "/v1/health", "docs": "/docs", "redoc": "/redoc", "openapi": openapi_url, "ui": "/"},
            "endpoints": endpoints,
        }
