"""The how-to's own call: POST /v1/image-to-image with {"prompt", "image" (base64), "image_strength", "seed",
"aspect_ratio"} (and every field /v1/generations takes) waits for its job and answers with the images, in the
shape of the synchronous hosted image-to-image APIs; a job that runs past the wait answers 202 and its Location."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.concurrency import run_in_threadpool

from photogen.api.compat_schemas import ImageResult, ImageToImageIn, ImageToImageOut
from photogen.api.deps import IdempotencyKey, Owner, container_of
from photogen.api.errors import ERROR_RESPONSES
from photogen.api.schemas import ErrorResponse
from photogen.api.results import asset_url, check_succeeded, ended_job, origin, output_images, preferred_wait
from photogen.api.shaping import job_out, live_progress
from photogen.api.sources import prepare_generation
from photogen.domain.jobs import JobOrigin
from photogen.domain.records import JobRecord

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


@router.post(
    "/image-to-image", response_model=ImageToImageOut,
    summary="The common image-to-image call: submit, wait for the job, answer with the images",
    description="Takes the body of POST /v1/generations (the how-to's {prompt, image, image_strength, seed, "
                "aspect_ratio} among it); fields it does not know are ignored and recorded on the job "
                "(`job.via.ignored_fields`). Waits up to PHOTOGEN_SYNC_WAIT_S, or `Prefer: wait=N`; a job still "
                "running then is answered 202 with the job and `Location: /v1/jobs/{id}`.",
    responses={202: {"model": ImageToImageOut, "description": "The job runs past the wait: follow its Location."},
               500: {"model": ErrorResponse, "description": "The job failed (its error code says why)."}},
)
async def image_to_image(
    request: Request, owner: Owner, body: ImageToImageIn, response: Response,
    idempotency_key: IdempotencyKey = None,
    prefer: Annotated[str | None, Header(max_length=200, description="wait=N: wait up to N seconds (at most "
                                        "PHOTOGEN_SYNC_WAIT_MAX_S); respond-async: answer 202 at once.")] = None,
) -> ImageToImageOut:
    via = origin(request, body.model_extra or {})
    submitted = await run_in_threadpool(_submit, request, owner, body, idempotency_key, via)
    wait_s, applied = preferred_wait(request)
    job = await ended_job(request, owner, submitted.id, wait_s)
    if applied:
        response.headers["Preference-Applied"] = applied
    if job.state in ("queued", "running"):
        response.status_code = 202
        response.headers["Location"] = f"/v1/jobs/{job.id}"
        assets = await run_in_threadpool(container_of(request).jobs.assets, owner, job.id)
        return ImageToImageOut(images=[], job=job_out(live_progress(request, job), assets))
    check_succeeded(job)
    outputs = await output_images(request, owner, job)
    assets = await run_in_threadpool(container_of(request).jobs.assets, owner, job.id)
    images = [ImageResult(base64=base64.b64encode(data).decode(), seed=asset.seed, finish_reason="SUCCESS",
                          asset_id=asset.id, url=asset_url(request, asset)) for asset, data in outputs]
    return ImageToImageOut(images=images, job=job_out(job, assets))


def _submit(request: Request, owner: str, body: ImageToImageIn, idempotency_key: str | None,
            via: JobOrigin) -> JobRecord:
    """The same submission as POST /v1/generations, recorded as coming through this path."""
    submissions = container_of(request).submissions
    prepared = prepare_generation(request, owner, body)
    job, _created = submissions.submit(owner, prepared.request, prepared.source, idempotency_key=idempotency_key,
                                       callback_url=body.callback_url, via=via, drawn=prepared.drawn,
                                       warnings=prepared.warnings)
    return job
