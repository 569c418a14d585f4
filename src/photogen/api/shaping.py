"""Service records shaped for the wire."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from fastapi import Request, Response

from photogen.api.deps import container_of
from photogen.api.schemas import AssetOut, JobOriginOut, JobOut, UploadOut
from photogen.domain.jobs import request_view
from photogen.domain.records import AssetRecord, JobRecord, UploadRecord

if TYPE_CHECKING:
    from photogen.services.jobs import JobService


def upload_out(upload: UploadRecord) -> UploadOut:
    return UploadOut.model_validate(upload, from_attributes=True)


def asset_out(asset: AssetRecord) -> AssetOut:
    return AssetOut(
        id=asset.id, kind=asset.kind, job_id=asset.job_id, upload_id=asset.upload_id, index=asset.index,
        seed=asset.seed, width=asset.width, height=asset.height, sha256=asset.sha256,
        url=f"/v1/assets/{asset.id}/content", scores=asset.scores, parent_asset_id=asset.parent_asset_id,
        created_at=asset.created_at,
    )


def job_out(job: JobRecord, assets: list[AssetRecord]) -> JobOut:
    spec = job.spec
    n = spec.num_images
    step, total = job.progress_step, job.progress_total
    return JobOut(
        id=job.id, state=job.state, kind=job.kind, recipe=job.recipe, parent_id=job.parent_id,
        relation=job.relation, comparison=job.comparison, upload_id=job.upload_id, request=request_view(spec),
        progress={"step": step, "total": total, "images": [{"index": i, "step": step, "total": total} for i in range(n)]},
        attempts=job.attempts, cancel_requested=job.cancel_requested, callback_url=job.callback_url, crop=job.crop,
        error={"code": job.error_code, "message": job.error_message or ""} if job.error_code else None,
        assets=[asset_out(a) for a in assets], created_at=job.created_at, started_at=job.started_at,
        finished_at=job.finished_at, via=_via(spec), identity_id=getattr(spec, "identity_id", None),
        references=[r.model_dump() for r in getattr(spec, "reference_uploads", ())],
        warnings=list(getattr(spec, "warnings", ())),
    )


def _via(spec) -> JobOriginOut | None:
    via = getattr(spec, "via", None)
    return None if via is None else JobOriginOut(path=via.path, ignored_fields=list(via.ignored_fields), user=via.user)


def submitted_job(response: Response, created: bool, job: JobRecord, jobs: JobService, owner: str) -> JobOut:
    """What every submission answers: 202 for a new job (which has no assets yet, so none are read); 200 with the
    first job, as it stands now, and what it made so far when a retry's Idempotency-Key found it."""
    if created:
        return job_out(job, [])
    response.status_code = 200
    return job_out(*jobs.with_assets(owner, job.id))


def live_progress(request: Request, job: JobRecord) -> JobRecord:
    """Fold in a running job's progress from its events: the row holds step 0 from the claim until the job ends."""
    if job.state != "running":
        return job
    events = container_of(request).events.since(job.id, 0)
    steps = [e["step"] for e in events if e["event"] == "progress"]
    if steps and steps[-1] > job.progress_step:
        return replace(job, progress_step=steps[-1])
    return job
