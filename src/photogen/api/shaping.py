"""Rows shaped for the wire."""

from __future__ import annotations

from fastapi import Request

from photogen.api.deps import container_of
from photogen.api.schemas import AssetOut, JobOut, UploadOut
from photogen.domain.jobs import request_view
from photogen.store.tables import Asset, Job, Upload


def upload_out(row: Upload) -> UploadOut:
    return UploadOut.model_validate(row, from_attributes=True)


def asset_out(row: Asset) -> AssetOut:
    return AssetOut(
        id=row.id, kind=row.kind, job_id=row.job_id, upload_id=row.upload_id, index=row.index, seed=row.seed,
        width=row.width, height=row.height, sha256=row.sha256, url=f"/v1/assets/{row.id}/content",
        scores=row.scores, parent_asset_id=row.parent_asset_id,
        created_at=row.created_at,
    )


def job_out(row: Job, assets: list[Asset]) -> JobOut:
    spec = row.spec
    n = spec.num_images
    step, total = row.progress_step, row.progress_total
    return JobOut(
        id=row.id, state=row.state, kind=row.kind, recipe=row.recipe, parent_id=row.parent_id,
        relation=row.relation, comparison=row.comparison, upload_id=row.upload_id, request=request_view(spec),
        progress={"step": step, "total": total, "images": [{"index": i, "step": step, "total": total} for i in range(n)]},
        attempts=row.attempts, cancel_requested=row.cancel_requested, callback_url=row.callback_url, crop=row.crop,
        error={"code": row.error_code, "message": row.error_message or ""} if row.error_code else None,
        assets=[asset_out(a) for a in assets], created_at=row.created_at, started_at=row.started_at,
        finished_at=row.finished_at,
    )


def live_progress(request: Request, job: Job) -> Job:
    """Fold in this process's newer progress than the row holds (rows are written every half second)."""
    if job.state != "running":
        return job
    events = container_of(request).events.since(job.id, 0)
    steps = [e["step"] for e in events if e["event"] == "progress"]
    if steps and steps[-1] > job.progress_step:
        job.progress_step = steps[-1]
    return job
