"""The FastAPI application: create_app(settings) builds everything through the container."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from photogen import __version__
from photogen.api.body_limit import BodyLimit
from photogen.api.errors import install_error_handlers
from photogen.config import Settings
from photogen.container import Container, build_container
from photogen.services.keys import AuthPolicy


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> FastAPI:
    """The app for a server listening on settings.host (which the Host check and auth rules use).

    Raises AuthRefused when settings.host reaches beyond loopback and no API keys are required."""
    from photogen.api.security import is_loopback

    settings = settings or Settings()
    built = container or build_container(settings)
    auth = AuthPolicy(built.keys, settings.auth, listens_beyond_loopback=not is_loopback(settings.host))
    try:
        auth.check_start()
    except Exception:
        if container is None:
            built.close()
        raise

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        built.start()
        try:
            yield
        finally:
            built.close()

    app = FastAPI(
        title="photogen",
        version=__version__,
        description="Image-to-image photo generation built around uploads: checked, cropped, reproducible, traceable.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.container = built
    built.label_job_logs()
    app.state.auth = auth
    install_error_handlers(app)
    # Middleware added last runs first: Host and Origin are checked before any body is read.
    app.add_middleware(BodyLimit, max_upload_bytes=settings.max_upload_bytes, max_json_body_bytes=settings.max_json_body_bytes)
    _install_security(app, settings)

    from photogen.api.docs import mount_docs, mount_index
    from photogen.api.routes import router

    mount_index(app)
    app.include_router(router)
    mount_docs(app)
    _mount_web_ui(app)
    return app


def _install_security(app: FastAPI, settings: Settings) -> None:
    """Outermost first: headers on every answer, then the Host check, CORS, the Origin check."""
    from starlette.middleware.cors import CORSMiddleware

    from photogen.api.security import (
        HostCheckMiddleware,
        HostPolicy,
        OriginCheckMiddleware,
        SecurityHeadersMiddleware,
    )

    app.add_middleware(OriginCheckMiddleware, cors_origins=settings.cors_origins)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "Idempotency-Key", "Last-Event-ID"],
            expose_headers=["Location"],
        )
    app.add_middleware(HostCheckMiddleware, policy=HostPolicy(settings.host, settings.allowed_hosts))
    app.add_middleware(SecurityHeadersMiddleware)


def _mount_web_ui(app: FastAPI) -> None:
    """The browser UI: static files shipped in the package, served at / (no CDN, nothing fetched)."""
    from importlib import resources

    from fastapi.staticfiles import StaticFiles

    static = resources.files("photogen.web") / "static"
    if static.joinpath("index.html").is_file():
        app.mount("/", StaticFiles(directory=str(static), html=True), name="web")
