"""The /v1 REST endpoints. Blocking work runs in FastAPI's thread pool (plain `def` routes)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from photogen import __version__
from photogen.api.app import Owner, container_of
from photogen.api.errors import ERROR_RESPONSES
from photogen.api.schemas import (
    AssetDetail,
    CropSuggestion,
    PresetOut,
    RecipeDiff,
    RecipeIn,
    RecipeOut,
    AssetOut,
    DeletedOut,
    GenerationIn,
    HealthOut,
    JobOut,
    Lineage,
    UploadJson,
    UploadOut,
)
from photogen.domain.errors import InvalidRequest, PhotogenError
from photogen.services.uploads import NotFound
from photogen.store.tables import Asset, Job, Upload

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary", "description": "The photo file."}},
                }
            },
            "application/json": {"schema": UploadJson.model_json_schema()},
        },
    }
}


# -- shaping rows for the wire -------------------------------------------------------------------

def upload_out(row: Upload) -> UploadOut:
    return UploadOut.model_validate(row, from_attributes=True)


def asset_out(row: Asset) -> AssetOut:
    return AssetOut(
        id=row.id, kind=row.kind, job_id=row.job_id, upload_id=row.upload_id, index=row.index, seed=row.seed,
        width=row.width, height=row.height, sha256=row.sha256, url=f"/v1/assets/{row.id}/content",
        created_at=row.created_at,
    )


def job_out(row: Job, assets: list[Asset]) -> JobOut:
    n = row.request.get("num_images", 1)
    step, total = row.progress_step, row.progress_total
    return JobOut(
        id=row.id, state=row.state, upload_id=row.upload_id, request=row.request,
        progress={"step": step, "total": total, "images": [{"index": i, "step": step, "total": total} for i in range(n)]},
        attempts=row.attempts, cancel_requested=row.cancel_requested, callback_url=row.callback_url, crop=row.crop,
        error={"code": row.error_code, "message": row.error_message or ""} if row.error_code else None,
        assets=[asset_out(a) for a in assets], created_at=row.created_at, started_at=row.started_at,
        finished_at=row.finished_at,
    )


def _live_progress(request: Request, job: Job) -> Job:
    """Fold in this process's newer progress than the row holds (rows are written every half second)."""
    events = container_of(request).events.since(job.id, 0)
    steps = [e["step"] for e in events if e["event"] == "progress"]
    if steps and job.state == "running" and steps[-1] > job.progress_step:
        job.progress_step = steps[-1]
    return job


# -- health --------------------------------------------------------------------------------------

@router.get("/health", response_model=HealthOut, summary="Is the server up")
def health(request: Request) -> HealthOut:
    container = container_of(request)
    return HealthOut(status="ok", version=__version__, auth=container.keys.any_active(), models_loaded=container.models.loaded())


# -- uploads -------------------------------------------------------------------------------------

def _decode_base64(text: str) -> bytes:
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("image is not valid base64", hint="send the file's bytes base64-encoded") from None


def _fetch(request: Request, url: str) -> tuple[bytes, str | None]:
    from photogen.net.guard import fetch_url

    settings = container_of(request).settings
    fetched = fetch_url(url, max_bytes=settings.max_upload_bytes, timeout=settings.url_fetch_timeout_s,
                        allow=settings.url_allowlist)
    return fetched.data, fetched.content_type


def _create_upload(request: Request, owner: str, data: bytes, filename: str, content_type: str | None) -> Upload:
    use = request.query_params.get("use", "general")
    return container_of(request).uploads.create(owner, data, filename, content_type, use=use)


@router.post("/uploads", status_code=201, response_model=UploadOut, openapi_extra=UPLOAD_BODY,
             summary="Upload a photo (multipart file, base64 JSON or URL)")
async def create_upload(
    request: Request, owner: Owner,
    use: Annotated[str, Query(max_length=50, description="What the photo is for, which sets the preflight thresholds: general, headshot, instagram-square, instagram-portrait, product-hero, product-square, poster.")] = "general",
) -> UploadOut:
    content_type = request.headers.get("content-type", "")
    settings = container_of(request).settings
    if content_type.startswith("multipart/form-data"):
        async with request.form(max_files=1, max_fields=5) as form:
            file = form.get("file")
            if file is None or isinstance(file, str):
                raise InvalidRequest("the form has no file field", hint="send the photo as the multipart field 'file'")
            data = await file.read(settings.max_upload_bytes + 1)
            filename, claimed = file.filename or "", file.content_type
        if len(data) > settings.max_upload_bytes:
            raise PhotogenError("the file is too large", hint=f"the limit is {settings.max_upload_bytes} bytes", code="upload_too_large")
        row = await run_in_threadpool(_create_upload, request, owner, data, filename, claimed)
        return upload_out(row)
    if content_type.startswith("application/json"):
        try:
            body = UploadJson.model_validate_json(await request.body())
        except ValueError as exc:
            raise InvalidRequest(f"the JSON body is invalid: {str(exc).splitlines()[0]}", hint='send {"image": base64} or {"url": "https://..."}') from None
        if (body.image is None) == (body.url is None):
            raise InvalidRequest("give exactly one of image (base64) and url", hint='send {"image": base64} or {"url": "https://..."}')
        if body.image is not None:
            data, claimed = _decode_base64(body.image), body.filename or None
        else:
            data, claimed = await run_in_threadpool(_fetch, request, body.url)
        row = await run_in_threadpool(_create_upload, request, owner, data, body.filename, claimed)
        return upload_out(row)
    raise PhotogenError("uploads are multipart/form-data or application/json", hint="set the Content-Type header",
                        code="unsupported_media_type")


@router.get("/uploads", response_model=list[UploadOut], summary="Your uploads, newest first")
def list_uploads(request: Request, owner: Owner, limit: Annotated[int, Query(ge=1, le=500, description="How many.")] = 100) -> list[UploadOut]:
    return [upload_out(r) for r in container_of(request).uploads.list(owner, limit)]


@router.get("/uploads/{upload_id}", response_model=UploadOut, summary="One upload with its preflight report")
def get_upload(request: Request, owner: Owner, upload_id: str) -> UploadOut:
    return upload_out(container_of(request).uploads.get(owner, upload_id))


def _decoded_upload(request: Request, owner: str, upload_id: str, long_side: int):
    from photogen.intake.decode import decode_image

    container = container_of(request)
    upload = container.uploads.get(owner, upload_id)
    data = container.uploads.original(upload)
    return decode_image(data, max_pixels=container.settings.max_pixels, max_bytes=2**40, min_long_side=long_side)


@router.get("/uploads/{upload_id}/preview", summary="A JPEG preview of the upload, upright, without EXIF or GPS",
            response_class=Response, responses={200: {"content": {"image/jpeg": {}}, "description": "the preview"}})
def get_upload_preview(
    request: Request, owner: Owner, upload_id: str,
    long_side: Annotated[int, Query(ge=64, le=4096, description="Longest side of the preview in pixels.")] = 1024,
) -> Response:
    from photogen.intake.derivatives import encode_derivative, thumbnail

    decoded = _decoded_upload(request, owner, upload_id, long_side)
    data = encode_derivative(thumbnail(decoded.image, long_side), "JPEG", quality=88)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/presets", response_model=list[PresetOut], summary="Crop presets for the uses photos are made for")
def list_presets() -> list[PresetOut]:
    from photogen.intake.presets import PRESETS

    return [PresetOut(name=p.name, description=p.description, ratio=list(p.ratio), size=list(p.size) if p.size else None)
            for p in PRESETS.values()]


@router.get("/uploads/{upload_id}/crop", response_model=CropSuggestion,
            summary="The suggested crop of an upload for a preset, placed on its face or subject")
def get_crop_suggestion(
    request: Request, owner: Owner, upload_id: str,
    preset: Annotated[str, Query(max_length=100, description="Preset name or spec, e.g. headshot, custom:3:2, poster:50x70cm@300.")],
) -> CropSuggestion:
    from photogen.intake.pipeline import frame_photo
    from photogen.intake.thresholds import ANALYSIS_MIN_DECODE_SIDE

    decoded = _decoded_upload(request, owner, upload_id, ANALYSIS_MIN_DECODE_SIDE)
    crop = frame_photo(decoded, preset)
    box = list(crop.plan.box)
    return CropSuggestion(preset=crop.preset, box=box, anchor=crop.anchor, target_size=list(crop.target_size),
                          upscale=round(crop.upscale, 3), source_size=list(decoded.size))


@router.delete("/uploads/{upload_id}", response_model=DeletedOut, summary="Delete an upload and everything made from it")
def delete_upload(request: Request, owner: Owner, upload_id: str) -> DeletedOut:
    return DeletedOut(deleted=container_of(request).uploads.delete(owner, upload_id))


# -- generations and jobs ------------------------------------------------------------------------

@router.post("/generations", status_code=202, response_model=JobOut, summary="Start an image-to-image job")
def create_generation(
    request: Request,
    owner: Owner,
    body: GenerationIn,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200, description="Retries with the same key return the first job.")] = None,
) -> JobOut:
    container = container_of(request)
    sources = [body.image is not None, body.image_url is not None, body.upload_id is not None]
    if sum(sources) != 1:
        raise InvalidRequest("give exactly one of image, image_url and upload_id", hint="name the source photo once")
    expanded = container.recipes.expand(owner, body.recipe, body.given_fields()) if body.recipe else None
    generation = body.generation_request(container.settings.default_model, expanded)
    if body.callback_url:
        from photogen.net.guard import check_url

        check_url(body.callback_url, allow=container.settings.url_allowlist)
    upload_id = body.upload_id
    if upload_id is None:
        if body.image is not None:
            data, claimed = _decode_base64(body.image), None
        else:
            data, claimed = _fetch(request, body.image_url)
        upload_id = container.uploads.create(owner, data, "", claimed).id
    job, created = container.jobs.submit(owner, generation, upload_id, idempotency_key=idempotency_key,
                                         callback_url=body.callback_url)
    if not created:
        response.status_code = 200
    return job_out(job, container.jobs.assets(owner, job.id))


@router.get("/jobs", response_model=list[JobOut], summary="Your jobs, newest first")
def list_jobs(
    request: Request, owner: Owner,
    state: Annotated[str | None, Query(pattern="^(queued|running|succeeded|failed|canceled)$", description="Only jobs in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="How many.")] = 100,
) -> list[JobOut]:
    jobs = container_of(request).jobs
    return [job_out(_live_progress(request, j), jobs.assets(owner, j.id)) for j in jobs.list(owner, state, limit)]


@router.get("/jobs/{job_id}", response_model=JobOut, summary="A job's state, progress and results")
def get_job(request: Request, owner: Owner, job_id: str) -> JobOut:
    jobs = container_of(request).jobs
    return job_out(_live_progress(request, jobs.get(owner, job_id)), jobs.assets(owner, job_id))


@router.post("/jobs/{job_id}/cancel", status_code=202, response_model=JobOut, summary="Cancel a queued or running job")
def cancel_job(request: Request, owner: Owner, job_id: str) -> JobOut:
    jobs = container_of(request).jobs
    return job_out(jobs.cancel(owner, job_id), [])


@router.get("/jobs/{job_id}/events", summary="Live progress as Server-Sent Events",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "state and progress events, in order"}})
async def job_events(request: Request, owner: Owner, job_id: str) -> StreamingResponse:
    container = container_of(request)
    await run_in_threadpool(container.jobs.get, owner, job_id)  # 404 before the stream starts
    return StreamingResponse(_event_stream(request, owner, job_id), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _event_stream(request: Request, owner: str, job_id: str):
    """Events from this process as they happen; the row (polled) covers work done by other processes."""
    container = container_of(request)
    seen, last_row_check, last_sent = 0, 0.0, None
    loop = asyncio.get_running_loop()
    while True:
        for event in container.events.since(job_id, seen):
            seen = event["seq"]
            last_sent = (event["event"], event.get("state"), event.get("step"))
            yield _sse(event)
            if event["event"] == "state" and event["state"] in ("succeeded", "failed", "canceled"):
                return
        if loop.time() - last_row_check > 1.0:
            last_row_check = loop.time()
            try:
                job = await run_in_threadpool(container.jobs.get, owner, job_id)
            except NotFound:
                yield _sse({"event": "state", "state": "deleted"})
                return
            if job.state in ("succeeded", "failed", "canceled") and not container.events.since(job_id, seen):
                yield _sse({"event": "state", "state": job.state})
                return
            if last_sent is None:
                last_sent = ("state", job.state, None)
                yield _sse({"event": "state", "state": job.state, "step": job.progress_step, "total": job.progress_total})
        if await request.is_disconnected():
            return
        await asyncio.sleep(0.05)


def _sse(event: dict[str, Any]) -> str:
    kind = event.get("event", "message")
    return f"event: {kind}\ndata: {json.dumps(event)}\n\n"


# -- recipes -------------------------------------------------------------------------------------

def recipe_out(version) -> RecipeOut:
    return RecipeOut(**version.fields.model_dump(), name=version.name, version=version.version, ref=version.ref,
                     builtin=version.builtin)


@router.get("/recipes", response_model=list[RecipeOut], summary="Recipes you can use (newest version of each)")
def list_recipes(request: Request, owner: Owner) -> list[RecipeOut]:
    return [recipe_out(v) for v in container_of(request).recipes.list(owner)]


@router.get("/recipes/{name}", response_model=RecipeOut, summary="A recipe, newest or a given version")
def get_recipe(request: Request, owner: Owner, name: str,
               version: Annotated[int | None, Query(ge=1, description="Version; omitted means the newest.")] = None) -> RecipeOut:
    return recipe_out(container_of(request).recipes.get(owner, name, version))


@router.get("/recipes/{name}/versions", response_model=list[RecipeOut], summary="Every version of a recipe")
def list_recipe_versions(request: Request, owner: Owner, name: str) -> list[RecipeOut]:
    return [recipe_out(v) for v in container_of(request).recipes.versions(owner, name)]


@router.put("/recipes/{name}", status_code=201, response_model=RecipeOut,
            summary="Save a recipe: the first version, or the next one (versions never change)")
def save_recipe(request: Request, owner: Owner, name: str, body: RecipeIn) -> RecipeOut:
    from photogen.domain.recipes import RecipeFields

    try:
        fields = RecipeFields.model_validate(body.model_dump())
    except ValueError as exc:
        from pydantic import ValidationError

        from photogen.domain.params import describe_validation_error

        message = describe_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
        raise InvalidRequest(message, hint="fix the values named above") from None
    return recipe_out(container_of(request).recipes.save(owner, name, fields))


@router.get("/recipes/{name}/diff", response_model=RecipeDiff, summary="What changed between two versions")
def diff_recipe(request: Request, owner: Owner, name: str,
                from_version: Annotated[int, Query(alias="from", ge=1, description="Older version.")],
                to_version: Annotated[int, Query(alias="to", ge=1, description="Newer version.")]) -> RecipeDiff:
    changes = container_of(request).recipes.diff(owner, name, from_version, to_version)
    return RecipeDiff(name=name, from_version=from_version, to_version=to_version, changes=changes)


# -- assets --------------------------------------------------------------------------------------

def _asset(request: Request, owner: str, asset_id: str) -> Asset:
    with container_of(request).db.session() as session:
        row = session.get(Asset, asset_id)
    if row is None or row.owner != owner:
        raise NotFound(f"no asset {asset_id}", hint="asset ids are listed on their job")
    return row


@router.get("/assets/{asset_id}", response_model=AssetDetail, summary="An asset's metadata and full record")
def get_asset(request: Request, owner: Owner, asset_id: str) -> AssetDetail:
    row = _asset(request, owner, asset_id)
    return AssetDetail(**asset_out(row).model_dump(), record=row.record)


@router.get("/assets/{asset_id}/content", summary="Download the PNG (no EXIF or GPS; parameters embedded)",
            response_class=Response, responses={200: {"content": {"image/png": {}}, "description": "the PNG file"}})
def get_asset_content(request: Request, owner: Owner, asset_id: str) -> Response:
    row = _asset(request, owner, asset_id)
    data = container_of(request).blobs.get(row.blob_key)
    name = f"{row.job_id[:8] if row.job_id else row.upload_id[:8]}_{row.kind}_{row.index:02d}.png"
    return Response(data, media_type="image/png", headers={"Content-Disposition": f'attachment; filename="{name}"', "ETag": f'"{row.sha256}"'})


@router.get("/assets/{asset_id}/lineage", response_model=Lineage, summary="Upload, crop, job and outputs of an asset")
def get_lineage(request: Request, owner: Owner, asset_id: str) -> Lineage:
    container = container_of(request)
    row = _asset(request, owner, asset_id)
    upload = container.uploads.get(owner, row.upload_id)
    job = container.jobs.get(owner, row.job_id) if row.job_id else None
    assets = container.jobs.assets(owner, job.id) if job else []
    crop = next((a for a in assets if a.kind == "crop"), None)
    return Lineage(
        upload=upload_out(upload), crop=asset_out(crop) if crop else None, job=job_out(job, assets) if job else None,
        outputs=[asset_out(a) for a in assets if a.kind == "output"],
    )
