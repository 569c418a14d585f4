"""`photogen serve`: the REST API, the docs and the browser UI, with the in-process worker."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from photogen.cli.common import fail, load_settings, model_spec, quiet_libraries


def serve(
    host: Annotated[Optional[str], typer.Option(help="Address to bind; default PHOTOGEN_HOST or 127.0.0.1. "
                                                "Anything beyond loopback needs API keys.")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port; default PHOTOGEN_PORT or 8000.")] = None,
    model: Annotated[Optional[str], typer.Option(help="Default model for requests that name none, for this run; "
                                                 "default PHOTOGEN_DEFAULT_MODEL or tiny.")] = None,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="API only: run no in-process worker "
                                            "(jobs wait for a worker elsewhere).")] = False,
) -> None:
    """Run the server: REST API at /v1, docs at /docs, with the in-process worker."""
    import logging

    import uvicorn

    from photogen.api.app import create_app
    from photogen.api.security import is_loopback
    from photogen.container import build_container, database_label, refuse_an_open_server_beyond_loopback
    from photogen.domain.errors import PhotogenError

    changes: dict = {}
    if host:
        changes["host"] = host
    if port:
        changes["port"] = port
    if model:
        changes["default_model"] = model_spec(model)
    if no_worker:
        changes["worker_enabled"] = False
    settings = load_settings().model_copy(update=changes)
    if not is_loopback(settings.host):
        try:  # at once, before the engines' libraries are imported
            refuse_an_open_server_beyond_loopback(settings)
        except PhotogenError as exc:
            raise fail(exc.code, exc.message, exc.hint) from None
    if settings.worker_enabled and settings.queue == "embedded":  # an API node never imports torch or diffusers
        quiet_libraries()
    try:
        container = build_container(settings)
    except PhotogenError as exc:
        raise fail(exc.code, exc.message, exc.hint) from None
    try:
        application = create_app(settings, container=container)
    except PhotogenError as exc:
        container.close()
        raise fail(exc.code, exc.message, exc.hint) from None
    auth = application.state.auth.status()
    typer.echo(f"photogen {settings.home}: database {database_label(settings)}, "
               f"blobs {settings.resolved_blob_url()}, default model {settings.default_model}, "
               f"worker {'on' if container.worker is not None else 'off'}, queue {settings.queue}", err=True)
    typer.echo(f"API keys {'required' if auth.required else 'not required'}: {auth.reason}", err=True)
    typer.echo(f"serving on http://{_url_host(settings.host)}:{settings.port} (API at /v1, docs at /docs)", err=True)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s:     %(name)s: %(message)s")
    logging.getLogger("photogen").setLevel(logging.INFO)  # one line per job state change (photogen.jobs)
    uvicorn.run(application, host=settings.host, port=settings.port, log_level="info", access_log=True)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


