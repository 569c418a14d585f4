"""Health: is the server up, which auth rules apply, which models are loaded, which workers are alive."""

from __future__ import annotations

from fastapi import APIRouter, Request

from photogen import __version__
from photogen.api.deps import container_of
from photogen.api.errors import ERROR_RESPONSES
from photogen.api.schemas import HealthOut, WorkerOut

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


@router.get("/health", response_model=HealthOut, summary="Is the server up")
def health(request: Request) -> HealthOut:
    container = container_of(request)
    auth = request.app.state.auth.status()
    workers = [WorkerOut(id=w.id, kind=w.kind, hostname=w.hostname, gpu=w.gpu, last_heartbeat_at=w.last_heartbeat_at,
                         alive=w.alive) for w in container.queue.workers()] if container.queue is not None else []
    return HealthOut(status="ok", version=__version__, auth=auth.required, auth_mode=auth.mode, auth_reason=auth.reason,
                     models_loaded=container.models.loaded(), workers=workers)
