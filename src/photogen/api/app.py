"""The FastAPI application: create_app(settings) builds everything through the container."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Request

from photogen import __version__
from photogen.api.body_limit import BodyLimit
from photogen.api.errors import install_error_handlers
from photogen.config import Settings
from photogen.container import Container, build_container
from photogen.services.keys import Unauthorized

LOCAL_OWNER = "local"


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> FastAPI:
    settings = settings or Settings()
    built = container or build_container(settings)

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
    )
    app.state.container = built
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_upload_bytes=settings.max_upload_bytes, max_json_body_bytes=settings.max_json_body_bytes)

    from photogen.api.routes import router

    app.include_router(router)
    _mount_web_ui(app)
    return app


def _mount_web_ui(app: FastAPI) -> None:
    """The browser UI: static files shipped in the package, served at / (no CDN, nothing fetched)."""
    from importlib import resources

    from fastapi.staticfiles import StaticFiles

    static = resources.files("photogen.web") / "static"
    if static.joinpath("index.html").is_file():
        app.mount("/", StaticFiles(directory=str(static), html=True), name="web")


def container_of(request: Request) -> Container:
    return request.app.state.container


def current_owner(
    request: Request,
    authorization: Annotated[str | None, Header(description="Bearer <API key>")] = None,
    x_api_key: Annotated[str | None, Header(description="The API key, as an alternative to Authorization.")] = None,
) -> str:
    """The owner behind the request's API key; with no keys configured, everyone is the local owner."""
    container = container_of(request)
    key = x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        key = authorization[7:].strip()
    if not container.keys.any_active():
        return LOCAL_OWNER
    if not key:
        raise Unauthorized("an API key is required", hint="send Authorization: Bearer <key>")
    return container.keys.authenticate(key)


Owner = Annotated[str, Depends(current_owner)]
