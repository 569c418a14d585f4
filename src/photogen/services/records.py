"""Stored rows copied into the plain records services hand out (photogen.domain.records).

Only services read rows; everything above them (API, CLI) sees these copies.
"""

from __future__ import annotations

from photogen.domain.records import AssetRecord, JobRecord, UploadRecord
from photogen.store.tables import Asset, Job, Upload


def upload_record(row: Upload) -> UploadRecord:
    return UploadRecord(
        id=row.id, owner=row.owner, sha256=row.sha256, filename=row.filename, format=row.format, width=row.width,
        height=row.height, size_bytes=row.size_bytes, preflight=row.preflight, created_at=row.created_at,
    )


def job_record(row: Job) -> JobRecord:
    return JobRecord(
        id=row.id, owner=row.owner, upload_id=row.upload_id, state=row.state, kind=row.kind, spec=row.spec,
        recipe=row.recipe, parent_id=row.parent_id, relation=row.relation, source_asset_id=row.source_asset_id,
        comparison=row.comparison, attempts=row.attempts, cancel_requested=row.cancel_requested,
        callback_url=row.callback_url, progress_step=row.progress_step, progress_total=row.progress_total,
        crop=row.crop, error_code=row.error_code, error_message=row.error_message, created_at=row.created_at,
        started_at=row.started_at, finished_at=row.finished_at,
    )


def asset_record(row: Asset) -> AssetRecord:
    return AssetRecord(
        id=row.id, owner=row.owner, upload_id=row.upload_id, job_id=row.job_id, kind=row.kind, index=row.index,
        seed=row.seed, sha256=row.sha256, width=row.width, height=row.height, record=row.record, scores=row.scores,
        parent_asset_id=row.parent_asset_id, size_bytes=row.size_bytes, created_at=row.created_at,
    )
