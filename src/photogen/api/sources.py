"""Photos given inline: base64 text, or a URL photogen fetches under the upload address rules."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass

from fastapi import Request
from pydantic import ValidationError

from photogen.api.deps import container_of
from photogen.api.schemas import GenerationIn, UploadJson
from photogen.domain.errors import InvalidRequest
from photogen.domain.params import GenerationRequest
from photogen.services.jobs import SourcePhoto
from photogen.services.references import DrawnReferences
from photogen.services.uploads import url_filename

# Line breaks where encoders wrap (76 columns by default for `base64` and MIME), nothing else.
_LINE_BREAKS = re.compile(r"\r?\n")


def decode_base64(text: str, field: str = "image") -> bytes:
    """The bytes of base64 text; a data: URL prefix and lines wrapped with \\n or \\r\\n are accepted."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(_LINE_BREAKS.sub("", text), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"{field}: not valid base64", hint="send the file's bytes base64-encoded") from None


def fetch_source(request: Request, url: str) -> tuple[bytes, str | None]:
    """The bytes and claimed content type at `url`, fetched with the server's limits and allow-list."""
    from photogen.net.guard import fetch_url

    settings = container_of(request).settings
    fetched = fetch_url(url, max_bytes=settings.max_upload_bytes, timeout=settings.url_fetch_timeout_s,
                        allow=settings.url_allowlist)
    return fetched.data, fetched.content_type


def source_photo(request: Request, owner: str, *, image: str | None, image_url: str | None,
                 upload_id: str | None) -> str | SourcePhoto:
    """The photo a generation starts from: an upload id, or a photo stored only if no earlier job answers."""
    given = [name for name, value in (("image", image), ("image_url", image_url), ("upload_id", upload_id))
             if value is not None]
    if len(given) != 1:
        raise InvalidRequest("give exactly one of image, image_url and upload_id"
                             + (f" (got {', '.join(given)})" if given else ""), hint="name the source photo once")
    if upload_id is not None:
        return upload_id
    uploads, limits = container_of(request).uploads, container_of(request).limits
    if image is not None:
        return photo_from_bytes(request, owner, decode_base64(image))
    url = image_url or ""

    def fetch_and_store() -> str:
        limits.check_upload_rate(owner)  # before fetching anything
        data, claimed = fetch_source(request, url)
        limits.admit_upload(owner, len(data))
        return uploads.create(owner, data, url_filename(url), claimed).id

    return SourcePhoto(f"url:{url}", fetch_and_store)


@dataclass(frozen=True)
class Prepared:
    """A generation body made ready to submit: its request, its source, the photos it drew and the warnings."""

    request: GenerationRequest
    source: str | SourcePhoto
    drawn: DrawnReferences | None
    warnings: tuple[str, ...]


def prepare_generation(request: Request, owner: str, body: GenerationIn,
                       also_given: tuple[str, ...] = ()) -> Prepared:
    """The body's generation request for a catalogue model (a recipe filling what the body left out; its photos
    drawn from `identity_id` or `reference_upload_ids`), made to fit the model, and its source photo: the body's
    own, else the first photo drawn. Refused before anything is stored."""
    submissions = container_of(request).submissions
    drawn = submissions.draw(owner, identity_id=body.identity_id, reference_upload_ids=body.reference_upload_ids,
                             source_given=body.source_given, model=body.model)
    generation = submissions.request_drawing(owner, body.generation_fields(), body.given_fields(), model=body.model,
                                             recipe=body.recipe, also_given=also_given, drawn=drawn)
    if drawn is not None and drawn.source is not None:
        source: str | SourcePhoto = drawn.source.id
    else:
        source = source_photo(request, owner, image=body.image, image_url=body.image_url, upload_id=body.upload_id)
    return Prepared(generation, source, drawn, submissions.warnings_for(generation, drawn, source, owner))


def photo_from_bytes(request: Request, owner: str, data: bytes, filename: str = "") -> SourcePhoto:
    """A photo sent with a request, stored (within the owner's upload limits) only if no earlier job answers."""
    uploads, limits = container_of(request).uploads, container_of(request).limits

    def store() -> str:
        limits.check_upload_rate(owner)
        limits.admit_upload(owner, len(data))
        return uploads.create(owner, data, filename, None).id

    return SourcePhoto(f"sha256:{hashlib.sha256(data).hexdigest()}", store)


def parse_upload_json(raw: bytes) -> UploadJson:
    """The JSON upload body, or an InvalidRequest that says in plain words what is wrong with it."""
    hint = 'send {"image": "<base64>"} or {"url": "https://..."}'
    try:
        data = json.loads(raw)
    except ValueError as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise InvalidRequest(f"the JSON body is not valid JSON{where}", hint=hint) from None
    if not isinstance(data, dict):
        raise InvalidRequest("the JSON body must be an object", hint=hint)
    try:
        return UploadJson.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest("; ".join(_plain(error) for error in exc.errors()), hint=hint) from None


def _plain(error: dict) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "body"
    if error["type"] == "extra_forbidden":
        return f"{where}: is not a field of a JSON upload (use image, url and filename)"
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message.replace('Input should be', 'must be').replace('String should', 'must')}"
