"""Domain errors map to HTTP here and only here: as {"error": {"code", "message", "hint"}}, except on the
compatibility paths that answer in their original API's shape (`error_body`): OpenAI's images API
({"error": {"message", "type", "param", "code"}}) and AUTOMATIC1111's sdapi ({"error", "detail", "body", "errors"})."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from photogen.api.schemas import ErrorResponse
from photogen.domain.errors import PhotogenError
from photogen.services.limits import LimitExceeded

log = logging.getLogger("photogen.api")

STATUS_BY_CODE = {
    "invalid_request": 422,  # every validation failure, from pydantic or our own checks
    "not_found": 404,
    "metrics_disabled": 404,
    "unauthorized": 401,
    "cross_origin_refused": 403,  # answered by api/security.py, listed here for completeness
    "host_not_allowed": 421,  # likewise
    "idempotency_conflict": 409,
    "recipe_name_taken": 409,
    "job_finished": 409,
    "not_replayable": 409,
    "invalid_transition": 409,
    "identity_set_changed": 409,
    "no_usable_reference": 422,
    "upload_too_large": 413,
    "file_too_large": 413,
    "image_too_large": 413,
    "image_decoded_too_large": 413,
    "request_too_large": 413,
    "url_not_allowed": 400,
    "url_fetch_failed": 422,
    "model_not_found": 422,
    "unsupported_model": 422,
    "source_not_found": 422,
    "model_not_allowed": 422,
    "unsupported_control": 422,  # a control the request's model lacks, named with the model
    "reference_not_found": 422,
    "reference_blocked": 422,  # a reference photo whose preflight blocks it
    "rate_limited": 429,
    "quota_exceeded": 429,
    "unknown_sampler": 422,
    # how a job ended, answered by the paths that wait for their job (photogen.api.results.check_succeeded)
    "job_canceled": 409,
    "upload_deleted": 409,
    "job_deleted": 409,
    "generation_failed": 500,
    "model_load_failed": 500,
    "worker_stopped": 503,
    "job_timeout": 504,
    "job_still_running": 504,  # a waiting path waited as long as it may; the job goes on
}
DEFAULT_STATUS = 400

ERROR_RESPONSES: dict[int | str, dict] = {
    status: {"description": description, "model": ErrorResponse}
    for status, description in {
        400: "The request is invalid.",
        401: "Missing or invalid API key.",
        404: "No such resource for this owner.",
        409: "Conflicts with the resource's state or an earlier request.",
        413: "The upload is too large.",
        422: "The values are invalid or cannot be processed.",
        429: "A per-key limit (active jobs, uploads per minute, stored bytes) was reached; see Retry-After.",
    }.items()
}


OPENAI_PREFIX = "/v1/images/"
SDAPI_PREFIX = "/sdapi/"
_FIELD = re.compile(r"^([A-Za-z_][A-Za-z0-9_.\[\]]*): ")


def error_body(path: str, status: int, code: str, message: str, hint: str = "") -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, extra headers) of an error answered on `path`, in the shape its API's clients read."""
    if path.startswith(OPENAI_PREFIX):
        # OpenAI answers invalid values with 400; its SDK retries 409, 429 and 5xx unless told not to
        status = 400 if status == 422 else status
        field = _FIELD.match(message)
        body = {"error": {"message": f"{message} ({hint})" if hint else message,
                          "type": "server_error" if status >= 500 else "invalid_request_error",
                          "param": field.group(1) if field else None, "code": code}}
        return status, body, {} if status == 429 else {"x-should-retry": "false"}
    if path.startswith(SDAPI_PREFIX):
        detail = f"{message} ({hint})" if hint else message
        headers = {"WWW-Authenticate": 'Basic realm="photogen"'} if status == 401 else {}
        return status, {"error": code, "detail": detail, "body": "", "errors": message}, headers
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    return status, {"error": {"code": code, "message": message, "hint": hint}}, headers


def error_response(status: int, code: str, message: str, hint: str = "", headers=None, *, path: str = "") -> JSONResponse:
    status, body, shaped = error_body(path, status, code, message, hint)
    return JSONResponse(body, status_code=status, headers={**shaped, **(headers or {})} or None)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PhotogenError)
    async def photogen_error(request: Request, exc: PhotogenError) -> JSONResponse:
        status = STATUS_BY_CODE.get(exc.code, DEFAULT_STATUS)
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, LimitExceeded) else None
        return error_response(status, exc.code, exc.message, exc.hint, headers, path=request.url.path)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "header"))
            parts.append(f"{where or 'body'}: {error.get('msg', 'invalid').removeprefix('Value error, ')}")
        return error_response(422, "invalid_request", "; ".join(parts), "fix the values named above",
                              path=request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        return error_response(exc.status_code, code, message, path=request.url.path)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        incident = uuid.uuid4().hex[:12]
        log.error("internal error %s", incident, exc_info=exc)
        return error_response(500, "internal_error", "an internal error occurred", f"report incident {incident} to the operator",
                              path=request.url.path)
