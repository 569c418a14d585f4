"""Uploads, previews, presets and crop suggestions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from photogen.api.deps import Owner, container_of
from photogen.api.errors import ERROR_RESPONSES
from photogen.api.schemas import (
    CropSuggestion,
    DeletedOut,
    PresetOut,
    UploadJson,
    UploadOut,
)
from photogen.api.shaping import upload_out
from photogen.api.sources import decode_base64, fetch_source, parse_upload_json, url_filename
from photogen.domain.errors import InvalidRequest, PhotogenError
from photogen.domain.records import UploadRecord

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


# -- uploads -------------------------------------------------------------------------------------

def _create_upload(request: Request, owner: str, data: bytes, filename: str, content_type: str | None) -> UploadRecord:
    use = request.query_params.get("use", "general")
    container_of(request).limits.admit_upload(owner, len(data))
    return container_of(request).uploads.create(owner, data, filename, content_type, use=use)


@router.post("/uploads", status_code=201, response_model=UploadOut, openapi_extra=UPLOAD_BODY,
             summary="Upload a photo (multipart file, base64 JSON or URL)")
async def create_upload(
    request: Request, owner: Owner,
    use: Annotated[str, Query(max_length=50, description="What the photo is for, which sets the preflight thresholds: general, headshot, instagram-square, instagram-portrait, product-hero, product-square, poster.")] = "general",
) -> UploadOut:
    content_type = request.headers.get("content-type", "")
    settings = container_of(request).settings
    await run_in_threadpool(container_of(request).limits.check_upload_rate, owner)  # before reading the body
    if content_type.startswith("multipart/form-data"):
        async with request.form(max_files=1, max_fields=5) as form:
            file = form.get("file")
            if file is None or isinstance(file, str):
                raise InvalidRequest("the form has no file field", hint="send the photo as the multipart field 'file'")
            data = await file.read(settings.max_upload_bytes + 1)
            filename, claimed = file.filename or "", file.content_type
        if len(data) > settings.max_upload_bytes:
            raise PhotogenError("the file is too large", hint=f"the limit is {settings.max_upload_bytes} bytes", code="upload_too_large")
        upload = await run_in_threadpool(_create_upload, request, owner, data, filename, claimed)
        return upload_out(upload)
    if content_type.startswith("application/json"):
        body = parse_upload_json(await request.body())
        if (body.image is None) == (body.url is None):
            raise InvalidRequest("give exactly one of image (base64) and url", hint='send {"image": base64} or {"url": "https://..."}')
        if body.image is not None:
            data, claimed = decode_base64(body.image), body.filename or None
        else:
            data, claimed = await run_in_threadpool(fetch_source, request, body.url)
        filename = body.filename or (url_filename(body.url) if body.url is not None else "")
        upload = await run_in_threadpool(_create_upload, request, owner, data, filename, claimed)
        return upload_out(upload)
    raise PhotogenError("uploads are multipart/form-data or application/json", hint="set the Content-Type header",
                        code="unsupported_media_type")


@router.get("/uploads", response_model=list[UploadOut], summary="Your uploads, newest first")
def list_uploads(request: Request, owner: Owner, limit: Annotated[int, Query(ge=1, le=500, description="How many.")] = 100) -> list[UploadOut]:
    return [upload_out(u) for u in container_of(request).uploads.list(owner, limit)]


@router.get("/uploads/{upload_id}", response_model=UploadOut, summary="One upload with its preflight report")
def get_upload(request: Request, owner: Owner, upload_id: str) -> UploadOut:
    return upload_out(container_of(request).uploads.get(owner, upload_id))


@router.get("/uploads/{upload_id}/preview", summary="A JPEG preview of the upload, upright, without EXIF or GPS",
            description="Previews are made once, at upload (256 and 512 pixels, and larger where the photo allows), "
                        "and kept; a larger one is made on first request. Other sizes are cut from the next stored "
                        "size up, so a preview request never decodes the original more than once per size.",
            response_class=Response, responses={200: {"content": {"image/jpeg": {}}, "description": "the preview"}})
def get_upload_preview(
    request: Request, owner: Owner, upload_id: str,
    long_side: Annotated[int, Query(ge=64, le=4096, description="Longest side of the preview in pixels.")] = 1024,
) -> Response:
    data = container_of(request).uploads.preview(owner, upload_id, long_side)
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

    decoded = container_of(request).uploads.analysis_image(owner, upload_id)
    crop = frame_photo(decoded, preset)
    box = list(crop.plan.box)
    return CropSuggestion(preset=crop.preset, box=box, anchor=crop.anchor, target_size=list(crop.target_size),
                          upscale=round(crop.upscale, 3), source_size=list(decoded.size))


@router.delete("/uploads/{upload_id}", response_model=DeletedOut, summary="Delete an upload and everything made from it")
def delete_upload(request: Request, owner: Owner, upload_id: str) -> DeletedOut:
    return DeletedOut(deleted=container_of(request).uploads.delete(owner, upload_id))
