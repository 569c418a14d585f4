"""OpenAI's images API, for code written against it: POST /v1/images/edits (multipart, the SDK's
`client.images.edit(...)`) waits for its job and answers {"created", "data": [{"b64_json" | "url",
"revised_prompt"}]}. Errors on this path come in OpenAI's shape (photogen.api.errors.error_body).

The fields map onto photogen's request: the first image is the source; more images (`image[]`) are reference
images, as many as the model takes; size gives the output's ratio and size; n the number of images; image
strength is the model's (none on instruction-edit models) or the recipes' default.
"""

from __future__ import annotations

import base64
from datetime import timezone
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from photogen.api.compat_schemas import (
    OPENAI_SIZES,
    OpenAIErrorResponse,
    OpenAIImage,
    OpenAIImageEdit,
    OpenAIImagesResponse,
)
from photogen.api.deps import Owner, container_of
from photogen.api.results import asset_url, check_succeeded, ended_job, origin, output_images
from photogen.api.sources import photo_from_bytes
from photogen.domain.errors import InvalidRequest, PhotogenError, UnsupportedControl
from photogen.domain.jobs import JobOrigin
from photogen.domain.params import MAX_REFERENCES, describe_validation_error
from photogen.domain.recipes import RecipeFields
from photogen.domain.records import JobRecord
from photogen.services.submission import reference_digest

router = APIRouter(prefix="/v1", responses={
    status: {"model": OpenAIErrorResponse, "description": description} for status, description in {
        400: "The request is invalid (OpenAI's error shape).", 401: "Missing or invalid API key.",
        413: "The images are too large.", 429: "A per-key limit was reached; see Retry-After.",
        500: "The job failed (its error code says why).",
        504: "The job still runs after PHOTOGEN_SYNC_WAIT_MAX_S; it goes on (its id is in the message).",
    }.items()
})

OPENAI_MODEL_PREFIXES = ("gpt-image", "dall-e", "chatgpt-image")  # OpenAI's own models: the server's default here
RECIPE_IMAGE_STRENGTH = RecipeFields.model_fields["image_strength"].default
EDIT_BODY = {
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["image", "prompt"],
        "properties": {
            "image": {"type": "string", "format": "binary", "description": "The photo to edit (or send several as "
                      "image[]: the first is the photo, the others reference images, as many as the model takes)."},
            **{name: {**schema, "description": field.description}
               for name, field in OpenAIImageEdit.model_fields.items()
               for schema in [OpenAIImageEdit.model_json_schema()["properties"][name]]},
        },
    }}}},
}
FORM_LIMITS = {"max_files": 1 + MAX_REFERENCES + 2, "max_fields": 60}  # the images, a mask or markup to refuse


@router.post("/images/edits", response_model=OpenAIImagesResponse, openapi_extra=EDIT_BODY,
             summary="OpenAI images API: edit one image (or several, as image[]) and wait for the results")
async def edit_images(request: Request, owner: Owner) -> OpenAIImagesResponse:
    container = container_of(request)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidRequest("image: an edit is a multipart/form-data request with the image as a file",
                             hint="send the image as the form file 'image' (the OpenAI SDK does)")
    await run_in_threadpool(container.limits.check_upload_rate, owner)  # before the body is read
    images, fields, files = await _read_form(request)
    try:
        edit = OpenAIImageEdit.model_validate(fields)
    except ValidationError as exc:
        raise InvalidRequest(describe_validation_error(exc), hint="fix the values named above") from None
    ignored = [*(edit.model_extra or {}), *files]
    submitted = await run_in_threadpool(_submit, request, owner, edit, images, ignored)
    job = await ended_job(request, owner, submitted.id, container.settings.sync_wait_max_s)
    check_succeeded(job)
    outputs = await output_images(request, owner, job)
    if edit.response_format == "url":
        data = [OpenAIImage(url=asset_url(request, asset), revised_prompt=_prompt(job)) for asset, _ in outputs]
        output_format = "png"
    else:
        encoded = await run_in_threadpool(_encoded, [png for _, png in outputs], edit.output_format)
        data = [OpenAIImage(b64_json=text, revised_prompt=_prompt(job)) for text in encoded]
        output_format = edit.output_format
    first = outputs[0][0]
    created = job.finished_at or job.created_at  # stored in UTC (SQLite hands it back without its zone)
    created = created if created.tzinfo else created.replace(tzinfo=timezone.utc)
    return OpenAIImagesResponse(created=int(created.timestamp()), data=data, output_format=output_format,
                                size=f"{first.width}x{first.height}")


async def _read_form(request: Request) -> tuple[list[bytes], dict[str, Any], list[str]]:
    """(the image files in order, the text fields, the names of other file fields, which are ignored)."""
    limit = container_of(request).settings.max_upload_bytes
    images: list[bytes] = []
    fields: dict[str, Any] = {}
    files: list[str] = []
    async with request.form(**FORM_LIMITS) as form:
        for name, value in form.multi_items():
            if name in ("image", "image[]"):
                if isinstance(value, str):
                    raise InvalidRequest(f"{name}: must be an image file, not a text field",
                                         hint="send each image as a file part of the form")
                data = await value.read(limit + 1)
                if len(data) > limit:
                    raise PhotogenError(f"{name}: the file is larger than {limit} bytes", code="upload_too_large",
                                        hint="send a smaller image")
                images.append(data)
            elif name in ("mask", "markup"):
                raise InvalidRequest(f"{name}: photogen does not take masks; it edits the whole image",
                                     hint=f"leave {name} out, and say in the prompt what to change")
            elif isinstance(value, str):
                fields[name] = value
            else:
                files.append(name)
    if fields.get("stream", "false").lower() not in ("false", "0", ""):
        raise InvalidRequest("stream: streamed edits are not offered; the answer comes whole",
                             hint="leave stream out (or false)")
    fields.pop("stream", None)
    if not images:
        raise InvalidRequest("image: at least one image is required", hint="send the photo to edit as the file 'image'")
    return images, fields, files


def _submit(request: Request, owner: str, edit: OpenAIImageEdit, images: list[bytes],
            ignored: list[str]) -> JobRecord:
    """The edit as a photogen generation, submitted the way POST /v1/generations submits."""
    container = container_of(request)
    model = edit.model
    if model is not None and model.lower().startswith(OPENAI_MODEL_PREFIXES):
        model, ignored = None, [*ignored, "model"]
    model_id = container.catalogue.resolve(model)
    capabilities = container.catalogue.capabilities(model_id)
    if capabilities is not None and len(images) > 1 + capabilities.max_references:
        raise UnsupportedControl(
            "references", model_id, f"image: model {model_id!r} edits one image with at most "
            f"{capabilities.max_references} reference image(s) beside it, not {len(images) - 1}",
            hint="send fewer images, or name a model that takes more (GET /v1/models lists max_references)")
    references = images[1:]
    fields: dict[str, Any] = {"prompt": edit.prompt, "num_images": edit.n, "image_strength": RECIPE_IMAGE_STRENGTH,
                              "references": [reference_digest(data) for data in references]}
    given = {"prompt", "num_images", "references"}
    size = OPENAI_SIZES[edit.size]
    if size is not None:
        fields["width"], fields["height"] = size
        given |= {"width", "height"}
    submissions = container.submissions
    generation = submissions.request(owner, fields, given, model=model_id)
    via: JobOrigin = origin(request, ignored, user=edit.user)
    job, _created = submissions.submit(owner, generation, photo_from_bytes(request, owner, images[0]), via=via,
                                       reference_images=references)
    return job


def _prompt(job: JobRecord) -> str:
    return job.spec.request.prompt


def _encoded(pngs: list[bytes], output_format: str) -> list[str]:
    """Each PNG as base64, converted to JPEG or WebP first when asked (the stored PNG keeps the parameters)."""
    if output_format == "png":
        return [base64.b64encode(png).decode() for png in pngs]
    import io

    from PIL import Image

    from photogen.intake.derivatives import encode_derivative

    converted = []
    for png in pngs:
        with Image.open(io.BytesIO(png)) as image:
            converted.append(encode_derivative(image, output_format.upper(), quality=95))
    return [base64.b64encode(data).decode() for data in converted]
