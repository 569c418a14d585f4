"""GET /metrics: Prometheus text, behind the same Host check and API keys as the rest of the API."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from photogen.api.deps import Owner, container_of
from photogen.api.errors import ERROR_RESPONSES
from photogen.domain.errors import PhotogenError
from photogen.domain.jobs import JobState
from photogen.observability.metrics import CONTENT_TYPE, RUN_METRICS, ServerCollector, render

router = APIRouter(responses=ERROR_RESPONSES)


@router.get("/metrics", response_class=Response, summary="Prometheus metrics: queue depth, batches, step times, "
            "job latencies, outputs, errors, GPU memory",
            responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}},
                             "description": "Prometheus text exposition format 0.0.4"}})
def metrics(request: Request, _owner: Owner) -> Response:
    container = container_of(request)
    if not container.settings.metrics:
        raise PhotogenError("metrics are turned off on this server", hint="set PHOTOGEN_METRICS=true",
                            code="metrics_disabled")
    collector = ServerCollector(container.jobs.counts_by_state, RUN_METRICS,
                                states=tuple(state.value for state in JobState))
    return Response(render(collector), media_type=CONTENT_TYPE)
