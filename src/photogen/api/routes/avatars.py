"""Avatar sets: an identity set run through scenarios, one generation each, and a grid of the results."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from photogen.api.deps import Owner, container_of
from photogen.api.errors import ERROR_RESPONSES
from photogen.api.schemas import AvatarRunOut, AvatarSetIn, AvatarSetOut
from photogen.api.shaping import asset_out

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


def avatar_set_out(view) -> AvatarSetOut:
    runs = [AvatarRunOut(scenario=run.scenario, job_id=run.job.id, state=run.job.state, attempt=run.attempt,
                         retry_of=run.retry_of, outputs=[asset_out(a) for a in run.outputs],
                         error={"code": run.job.error_code, "message": run.job.error_message or ""}
                         if run.job.error_code else None)
            for run in view.runs]
    return AvatarSetOut(id=view.id, state=view.state, identity_id=view.identity_id, spec=view.spec, runs=runs,
                        marked=list(view.marked), grid=asset_out(view.grid) if view.grid is not None else None,
                        created_at=view.created_at)


@router.post("/avatar-sets", status_code=202, response_model=AvatarSetOut,
             summary="Run an identity set through scenarios: N outputs each, scored, and a grid",
             description="One generation per scenario (a recipe), each drawing its source and references from the "
                         "identity set, all with the same seeds. Outputs below PHOTOGEN_IDENTITY_THRESHOLD (or "
                         "without a face) are marked; with `retry` the scenario runs again with its next seeds, at "
                         "most `max_retries` times, each retry a job linked to the run it retries. Read the set "
                         "(GET /v1/avatar-sets/{id}) until its state is succeeded: its grid is then made.")
def create_avatar_set(request: Request, owner: Owner, body: AvatarSetIn) -> AvatarSetOut:
    view = container_of(request).avatars.create(
        owner, body.identity_id, body.scenarios, num_images=body.num_images, model=body.model, seed=body.seed,
        details=body.details, retry=body.retry, max_retries=body.max_retries, steps=body.steps, size=body.size)
    return avatar_set_out(view)


@router.get("/avatar-sets", response_model=list[AvatarSetOut], summary="Your avatar sets, newest first")
def list_avatar_sets(request: Request, owner: Owner,
                     limit: Annotated[int, Query(ge=1, le=200, description="How many.")] = 50) -> list[AvatarSetOut]:
    return [avatar_set_out(view) for view in container_of(request).avatars.list(owner, limit)]


@router.get("/avatar-sets/{set_id}", response_model=AvatarSetOut,
            summary="An avatar set: its runs, scores, retries and, once they ended, its grid")
def get_avatar_set(request: Request, owner: Owner, set_id: str) -> AvatarSetOut:
    return avatar_set_out(container_of(request).avatars.get(owner, set_id))
