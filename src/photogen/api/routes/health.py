"""Health: is the server up, which auth rules apply, which models are loaded, which workers are alive."""

from __future__ import annotations

from fastapi import APIRouter, Request

from photogen import __version__
from photogen.api.deps import container_of, current_owner
from photogen.api.errors import ERROR_RESPONSES
from photogen.api.schemas import HealthOut, WorkerOut
from photogen.services.keys import Unauthorized

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


@router.get("/health", response_model=HealthOut, summary="Is the server up")
def health(request: Request) -> HealthOut:
    """Open to anyone (liveness probes); the workers and loaded models only to callers with a valid key
    where keys are required, since host names and model ids say more than "up"."""
    container = container_of(request)
    auth = request.app.state.auth.status()
    answer = HealthOut(status="ok", version=__version__, auth=auth.required, auth_mode=auth.mode,
                       auth_reason=auth.reason, models_loaded=[], workers=[])
    if not _may_see_details(request):
        return answer
    workers = [WorkerOut(id=w.id, kind=w.kind, hostname=w.hostname, gpu=w.gpu, last_heartbeat_at=w.last_heartbeat_at,
                         alive=w.alive) for w in container.queue.workers()] if container.queue is not None else []
    return answer.model_copy(update={"models_loaded": container.models.loaded(), "workers": workers})


def _may_see_details(request: Request) -> bool:
    try:
        current_owner(request, request.headers.get("authorization"), request.headers.get("x-api-key"))
    except Unauthorized:
        return False
    return True
