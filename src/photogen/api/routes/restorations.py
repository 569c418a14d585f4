"""Restorations: an old photo's scan repaired at its own size as one recorded job; read it through /v1/jobs."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from photogen.api.deps import IdempotencyKey, Owner, container_of
from photogen.api.errors import ERROR_RESPONSES
from photogen.api.schemas import JobOut, RestorationIn
from photogen.api.shaping import submitted_job
from photogen.api.sources import decode_base64, photo_from_bytes, source_photo
from photogen.domain.errors import InvalidRequest
from photogen.restoration.colourise import check_colourise

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


@router.post("/restorations", status_code=202, response_model=JobOut,
             summary="Restore an old photo's scan at its own size: damage map, repair, tones, faces, colourise")
def create_restoration(request: Request, owner: Owner, body: RestorationIn, response: Response,
                       idempotency_key: IdempotencyKey = None) -> JobOut:
    """The job's assets, once it succeeded: scan (the before), damage_mask (white where damaged; edit it and
    send it back as `mask`), mask_preview, repair, tones, colourise (when asked) and the output (the after),
    each with a download URL, all at the scan's size but the preview."""
    container = container_of(request)
    model = container.catalogue.resolve(body.model) if body.model is not None else None
    if body.colourise:
        if model is None:
            raise InvalidRequest("colourise needs a model that follows instructions",
                                 hint="name an instruction-edit model with `model`, or drop colourise",
                                 code="colourise_unsupported")
        capabilities = container.catalogue.capabilities(model)
        if capabilities is not None:
            check_colourise(model, capabilities.prompt_kind)
    if body.mask is not None and body.mask_upload_id is not None:
        raise InvalidRequest("give at most one of mask and mask_upload_id", hint="name the mask once")
    source = source_photo(request, owner, image=body.image, image_url=body.image_url, upload_id=body.upload_id)
    mask = body.mask_upload_id
    if body.mask is not None:
        mask = photo_from_bytes(request, owner, decode_base64(body.mask, "mask"), filename="mask.png")
    job, created = container.jobs.submit_restoration(owner, source, mask=mask, model=model,
                                                     colourise=body.colourise, seed=body.seed, steps=body.steps,
                                                     idempotency_key=idempotency_key)
    return submitted_job(response, created, job, container.jobs, owner)
