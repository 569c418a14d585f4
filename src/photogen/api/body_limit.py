"""Request bodies are read as a stream under a size cap: a larger body is answered 413 as soon as it passes it.

An ASGI middleware, so the cap holds before any route or parser buffers the body: a declared Content-Length
above the cap is refused before reading, and a body without one (chunked) or with a wrong one is counted as
it arrives. Bodies that may carry an image get the upload cap, large enough for a base64 JSON upload of
`max_upload_bytes`: every body on the paths in `IMAGE_BODY_PATHS`, and every body that is not JSON (a
multipart form carries a file). JSON bodies elsewhere get the small JSON cap. An endpoint that takes a
base64 image in JSON belongs in `IMAGE_BODY_PATHS`; one whose body may carry several photos says how many.
The 413 comes in the error shape of the path's API (photogen.api.errors.error_body).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from photogen.api.errors import error_body
from photogen.domain.params import MAX_REFERENCES

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Paths whose POST body may carry a whole photo (multipart, or base64 inside JSON), and how many photos at most.
IMAGE_BODY_PATHS: dict[str, int] = {
    "/v1/uploads": 1, "/v1/generations": 1, "/v1/sweeps": 1, "/v1/image-to-image": 1, "/sdapi/v1/img2img": 1,
    "/v1/images/edits": 1 + MAX_REFERENCES,  # the photo to edit and its reference images, in one form
    "/v1/restorations": 2,  # the scan and its mask
}
# Room for multipart boundaries and headers, or the JSON around a base64 string.
BODY_SLACK_BYTES = 64 * 1024


def image_body_cap(max_upload_bytes: int) -> int:
    """The largest body that can carry an upload of `max_upload_bytes`: base64 takes 4 bytes per 3."""
    return -(-max_upload_bytes // 3) * 4 + BODY_SLACK_BYTES


class BodyTooLarge(Exception):
    """Raised into the app by `receive` once the body passes its cap; the middleware answers 413."""


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_upload_bytes: int, max_json_body_bytes: int) -> None:
        self.app = app
        self.image_cap = image_body_cap(max_upload_bytes)
        self.json_cap = max_json_body_bytes

    def cap_for(self, scope: Scope) -> int:
        photos = IMAGE_BODY_PATHS.get(scope.get("path", "").rstrip("/"))
        if photos is not None:
            return self.image_cap * photos
        content_type = _header(scope, b"content-type") or b""
        return self.json_cap if b"json" in content_type.lower() else self.image_cap

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.cap_for(scope)
        # 1. a declared length above the cap: refused before a byte of the body is read
        declared = _content_length(scope)
        if declared is not None and declared > cap:
            await _send_413(send, cap, scope.get("path", ""))
            return
        # 2. otherwise count as the body arrives; past the cap, the app's own answer is replaced by the 413
        received = 0
        exceeded = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    exceeded = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # whatever the app made of the cut-off body (a parse error, a 400) is not sent
            started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except BodyTooLarge:
            pass
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await _send_413(send, cap, scope.get("path", ""))


def _header(scope: Scope, wanted: bytes) -> bytes | None:
    return next((value for name, value in scope.get("headers", ()) if name == wanted), None)


def _content_length(scope: Scope) -> int | None:
    value = _header(scope, b"content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


async def _send_413(send: Send, cap: int, path: str) -> None:
    status, content, headers = error_body(path, 413, "request_too_large",
                                          f"the request body is larger than the limit of {cap} bytes",
                                          "send a smaller photo, or a smaller JSON body")
    body = json.dumps(content).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"), *((name.lower().encode(), value.encode()) for name, value in headers.items()),
    ]})
    await send({"type": "http.response.body", "body": body})
