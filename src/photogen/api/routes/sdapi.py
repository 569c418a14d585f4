"""AUTOMATIC1111's API, the subset image-to-image clients use: POST /sdapi/v1/img2img (waits for its job and
answers {"images", "parameters", "info"}), GET /sdapi/v1/sd-models, /samplers, /progress, POST /interrupt.

The same keys and owners as /v1: `Authorization: Bearer <key>`, or AUTOMATIC1111's --api-auth style (HTTP basic
auth) with the key as the password. Errors come in AUTOMATIC1111's shape ({"error", "detail", "body", "errors"};
photogen.api.errors.error_body). Progress and interrupt concern your own jobs that came through this API.
"""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import timezone
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from photogen import __version__
from photogen.api.compat_schemas import (
    Img2ImgIn,
    Img2ImgOut,
    ProgressOut,
    SamplerItem,
    SdapiErrorResponse,
    SdModelItem,
)
from photogen.api.deps import SdapiOwner, container_of
from photogen.api.results import check_succeeded, ended_job, origin, output_images
from photogen.api.shaping import live_progress
from photogen.api.sources import decode_base64, photo_from_bytes
from photogen.domain.errors import InvalidRequest, PhotogenError
from photogen.domain.records import AssetRecord, JobRecord
from photogen.engines.schedulers import sampler_names, scheduler_for_sampler
from photogen.outputs import parameters_text

router = APIRouter(prefix="/sdapi/v1", tags=["AUTOMATIC1111"], responses={
    status: {"model": SdapiErrorResponse, "description": description} for status, description in {
        400: "The request is invalid (an init image that is not a photo, ...).", 401: "Missing or invalid API key.",
        404: "No such resource for this owner.", 413: "The image is too large.",
        422: "The values are invalid or cannot be processed.", 429: "A per-key limit was reached; see Retry-After.",
        500: "The job failed (its error code says why).",
        504: "The job still runs after PHOTOGEN_SYNC_WAIT_MAX_S; it goes on (its id is in the detail).",
    }.items()
})
DEFAULT_DENOISING = 0.75  # AUTOMATIC1111's own default
SDAPI_JOBS = "/sdapi/"
_CHECKPOINT_SUFFIX = re.compile(r"(\.safetensors|\.ckpt)?( \[[0-9a-f]+\])?$")


@router.post("/img2img", response_model=Img2ImgOut, summary="AUTOMATIC1111 img2img: submit, wait, answer the images")
async def img2img(request: Request, owner: SdapiOwner, body: Img2ImgIn) -> Img2ImgOut:
    container = container_of(request)
    submitted = await run_in_threadpool(_submit, request, owner, body)
    job = await ended_job(request, owner, submitted.id, container.settings.sync_wait_max_s)
    check_succeeded(job)
    outputs = await output_images(request, owner, job)
    parameters = {**body.model_dump(mode="json"), "init_images": None}
    return Img2ImgOut(images=[_b64(png) for _, png in outputs], parameters=parameters,
                      info=json.dumps(_info(job, [asset for asset, _ in outputs], body)))


@router.get("/sd-models", response_model=list[SdModelItem], summary="The models requests may name (the catalogue)")
def sd_models(request: Request, _owner: SdapiOwner) -> list[SdModelItem]:
    return [SdModelItem(title=model.id, model_name=model.id, hash=None, sha256=None, filename=model.id, config=None)
            for model in container_of(request).catalogue.describe()]


@router.get("/samplers", response_model=list[SamplerItem], summary="The samplers img2img takes (photogen's schedulers)")
def samplers(_owner: SdapiOwner) -> list[SamplerItem]:
    return [SamplerItem(name=name, aliases=aliases, options={}) for name, aliases in sampler_names()]


@router.get("/progress", response_model=ProgressOut, summary="Progress of your img2img jobs")
def progress(
    request: Request, owner: SdapiOwner,
    skip_current_image: Annotated[bool, Query(description="Accepted; no preview image is ever sent.")] = False,
) -> ProgressOut:
    active = [live_progress(request, job) for job in _active_jobs(request, owner)]
    state = {"skipped": False, "interrupted": False, "job": "", "job_count": len(active), "job_no": 0,
             "job_timestamp": "0", "sampling_step": 0, "sampling_steps": 0}
    running = next((job for job in active if job.state == "running"), None)
    if running is None:
        return ProgressOut(progress=0.0, eta_relative=0.0, state=state)
    done = sum(job.progress_step / job.progress_total for job in active if job.progress_total) / len(active)
    state.update(job=running.id, job_no=active.index(running), sampling_step=running.progress_step,
                 sampling_steps=running.progress_total, job_timestamp=_timestamp(running))
    started = running.started_at or running.created_at
    elapsed = time.time() - (started if started.tzinfo else started.replace(tzinfo=timezone.utc)).timestamp()
    eta = elapsed / done - elapsed if done > 0 else 0.0
    return ProgressOut(progress=round(min(done, 1.0), 4), eta_relative=round(max(eta, 0.0), 2), state=state,
                       textinfo=f"job {running.id}")


@router.post("/interrupt", summary="Stop your running and queued img2img jobs")
def interrupt(request: Request, owner: SdapiOwner) -> dict:
    jobs = container_of(request).jobs
    for job in _active_jobs(request, owner):
        try:
            jobs.cancel(owner, job.id)
        except PhotogenError:  # it ended (or went) meanwhile
            pass
    return {}


def _submit(request: Request, owner: str, body: Img2ImgIn) -> JobRecord:
    """AUTOMATIC1111's fields as a photogen request, submitted the way POST /v1/generations submits."""
    container = container_of(request)
    if body.mask:
        raise InvalidRequest("mask: photogen does not inpaint; it changes the whole image",
                             hint="leave mask out, and say in the prompt what to change")
    if body.batch_size * body.n_iter > 16:
        raise InvalidRequest(f"batch_size: batch_size x n_iter is {body.batch_size * body.n_iter}; photogen makes at "
                             "most 16 images per request", hint="ask for fewer images, or send several requests")
    given = body.model_fields_set
    fields: dict[str, Any] = {
        "prompt": body.prompt, "negative_prompt": body.negative_prompt, "num_images": body.batch_size * body.n_iter,
        "seed": None if body.seed == -1 else body.seed,
        "image_strength": round(1.0 - (DEFAULT_DENOISING if body.denoising_strength is None
                                       else body.denoising_strength), 6),
    }
    named = {"prompt", "num_images"} | ({"negative_prompt"} & given)
    for ours, theirs in (("image_strength", "denoising_strength"), ("steps", "steps"), ("guidance", "cfg_scale"),
                         ("width", "width"), ("height", "height")):
        value = getattr(body, theirs)
        if value is not None and theirs in given:
            fields.setdefault(ours, value)
            named.add(ours)
    sampler = body.sampler_name or body.sampler_index
    if sampler:
        fields["scheduler"] = _scheduler(sampler)
        named.add("scheduler")
    ignored = [*(body.model_extra or {})]
    settings = dict(body.override_settings)
    model = settings.pop("sd_model_checkpoint", None)
    ignored += [f"override_settings.{name}" for name in settings]
    if model is not None and not isinstance(model, str):
        raise InvalidRequest("override_settings.sd_model_checkpoint: must be a model's title",
                             hint="use a title from GET /sdapi/v1/sd-models")
    model_id = _CHECKPOINT_SUFFIX.sub("", model) if model else None
    submissions = container.submissions
    generation = submissions.request(owner, fields, named, model=model_id)
    source = photo_from_bytes(request, owner, decode_base64(body.init_images[0], field="init_images"))
    job, _created = submissions.submit(owner, generation, source, via=origin(request, ignored))
    return job


def _scheduler(sampler: str) -> str:
    scheduler = scheduler_for_sampler(sampler)
    if scheduler is None:
        known = ", ".join(name for name, _ in sampler_names())
        raise PhotogenError(f"sampler_name: unknown sampler {sampler[:100]!r}", code="unknown_sampler",
                            hint=f"use one of: {known} (GET /sdapi/v1/samplers lists their aliases too)")
    return scheduler


def _active_jobs(request: Request, owner: str) -> list[JobRecord]:
    """The owner's queued and running jobs that came through this API, oldest first."""
    jobs = container_of(request).jobs
    active = [*jobs.list(owner, "running"), *jobs.list(owner, "queued")]
    ours = [job for job in active if getattr(job.spec, "via", None) and job.spec.via.path.startswith(SDAPI_JOBS)]
    return sorted(ours, key=lambda job: job.created_at)


def _info(job: JobRecord, outputs: list[AssetRecord], body: Img2ImgIn) -> dict[str, Any]:
    """AUTOMATIC1111's `info`: the seeds, sizes and settings as run, with photogen's job and asset ids."""
    run = job.spec.request
    count = len(outputs)
    first = outputs[0]
    return {
        "prompt": run.prompt, "all_prompts": [run.prompt] * count,
        "negative_prompt": run.negative_prompt, "all_negative_prompts": [run.negative_prompt] * count,
        "seed": first.seed, "all_seeds": [asset.seed for asset in outputs],
        "subseed": -1, "all_subseeds": [-1] * count, "subseed_strength": 0,
        "width": first.width, "height": first.height, "sampler_name": first.record.get("sampler"),
        "cfg_scale": run.guidance, "steps": run.steps, "batch_size": body.batch_size, "restore_faces": False,
        "face_restoration_model": None, "sd_model_name": run.model, "sd_model_hash": None,
        "seed_resize_from_w": -1, "seed_resize_from_h": -1, "denoising_strength": run.denoising_strength,
        "extra_generation_params": {}, "index_of_first_image": 0,
        "infotexts": [parameters_text(asset.record) for asset in outputs], "styles": [],
        "job_timestamp": _timestamp(job), "clip_skip": 1, "is_using_inpainting_conditioning": False,
        "version": f"photogen {__version__}", "job_id": job.id, "asset_ids": [asset.id for asset in outputs],
    }


def _timestamp(job: JobRecord) -> str:
    moment = job.started_at or job.created_at
    return moment.strftime("%Y%m%d%H%M%S")


def _b64(png: bytes) -> str:
    return base64.b64encode(png).decode()
