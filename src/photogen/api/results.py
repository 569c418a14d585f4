"""What the synchronous compatibility paths share: how long a request waits, waiting for its job, the images the
job made, and the record of the fields a request carried that photogen does not use.

The paths themselves (photogen.api.routes.image_to_image, .openai_images, .sdapi) only translate their API's
fields and answers; submission goes through photogen.services.submission like /v1/generations.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from photogen.api.deps import container_of
from photogen.domain.errors import PhotogenError
from photogen.domain.jobs import JobOrigin
from photogen.domain.records import AssetRecord, JobRecord
from photogen.services.job_waits import wait_until_ended

log = logging.getLogger("photogen.api")
_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*([0-9]+(?:\.[0-9]+)?)", re.ASCII | re.IGNORECASE)


def preferred_wait(request: Request) -> tuple[float, str | None]:
    """How long this request waits for its job: `Prefer: wait=N` (RFC 7240) up to PHOTOGEN_SYNC_WAIT_MAX_S,
    `Prefer: respond-async` not at all, else PHOTOGEN_SYNC_WAIT_S; and the preference applied, if any."""
    settings = container_of(request).settings
    prefer = request.headers.get("prefer", "")
    if match := _WAIT.search(prefer):
        seconds = min(float(match.group(1)), settings.sync_wait_max_s)
        return seconds, f"wait={seconds:g}"
    if "respond-async" in prefer.lower():
        return 0.0, "respond-async"
    return min(settings.sync_wait_s, settings.sync_wait_max_s), None


async def ended_job(request: Request, owner: str, job_id: str, timeout_s: float) -> JobRecord:
    """The job once it has ended, or as it stands after `timeout_s` (or when the client has gone)."""
    container = container_of(request)
    return await wait_until_ended(container.jobs, container.events, owner, job_id, timeout_s,
                                  gone=request.is_disconnected)


def check_succeeded(job: JobRecord) -> None:
    """Refuse a job that did not succeed: it failed (its own error code), was canceled, or still runs."""
    where = f"/v1/jobs/{job.id}"
    if job.state == "failed":
        raise PhotogenError(f"job {job.id} failed: {job.error_message or job.error_code}",
                            code=job.error_code or "job_failed", hint=f"its record is at {where}")
    if job.state == "canceled":
        raise PhotogenError(f"job {job.id} was canceled", code="job_canceled", hint=f"its record is at {where}")
    if job.state != "succeeded":
        raise PhotogenError(f"job {job.id} is still {job.state} after the longest wait this server allows",
                            code="job_still_running",
                            hint=f"it goes on: read {where} for its state and images, or ask the operator for a "
                                 "longer PHOTOGEN_SYNC_WAIT_MAX_S")


async def output_images(request: Request, owner: str, job: JobRecord) -> list[tuple[AssetRecord, bytes]]:
    """The job's outputs, in index order, each with its PNG file."""
    container = container_of(request)

    def read() -> list[tuple[AssetRecord, bytes]]:
        outputs = sorted((a for a in container.jobs.assets(owner, job.id) if a.kind == "output"), key=lambda a: a.index)
        return [container.assets.content(owner, asset.id) for asset in outputs]

    return await run_in_threadpool(read)


def asset_url(request: Request, asset: AssetRecord) -> str:
    """The asset's download address on this server, absolute (the Host header is checked already)."""
    return str(request.base_url).rstrip("/") + f"/v1/assets/{asset.id}/content"


def origin(request: Request, ignored: Iterable[str], *, user: str | None = None) -> JobOrigin:
    """The record of a compatibility request: its path and the fields it sent that photogen does not use (they
    are ignored, as the original APIs ignore fields they do not know, and logged here)."""
    names = tuple(sorted({"".join(c if c.isprintable() else "?" for c in name[:100]) for name in ignored}))[:200]
    if names:
        log.info("%s ignored fields: %s", request.url.path, ", ".join(names))
    return JobOrigin(path=request.url.path, ignored_fields=names, user=user)
