"""Assets: the images jobs made, their bytes and their lineage (upload -> crop -> job -> output -> upscale ...)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from photogen.domain.records import AssetLineage, AssetRecord
from photogen.services.audit import audit
from photogen.services.records import asset_record, job_record, upload_record
from photogen.services.tombstones import sweep_tombstones
from photogen.services.uploads import NotFound
from photogen.store.blobs import BlobStore
from photogen.store.database import Database
from photogen.store.tables import Asset, BlobTombstone, Job, JobReferenceRow, Upload


class AssetService:
    def __init__(self, db: Database, blobs: BlobStore) -> None:
        self._db = db
        self._blobs = blobs
        self.on_jobs_deleted: Callable[[list[str]], None] = lambda job_ids: None  # stops them where they run

    def get(self, owner: str, asset_id: str) -> AssetRecord:
        return asset_record(self._row(owner, asset_id))

    def content(self, owner: str, asset_id: str) -> tuple[AssetRecord, bytes]:
        """The asset and its PNG file as stored (parameters embedded, no EXIF or GPS)."""
        row = self._row(owner, asset_id)
        return asset_record(row), self._blobs.get(row.blob_key)

    def lineage(self, owner: str, asset_id: str) -> AssetLineage:
        with self._db.session() as session:
            asset = session.get(Asset, asset_id)
            if asset is None or asset.owner != owner:
                raise _no_asset(asset_id)
            # 1. up: through upscales to the generated output
            ancestors, root = [], asset
            while root.parent_asset_id:
                parent = session.get(Asset, root.parent_asset_id)
                if parent is None:
                    break
                ancestors.append(parent)
                root = parent
            upload = session.get(Upload, asset.upload_id)
            job = session.get(Job, root.job_id) if root.job_id and root.kind != "upscale" else None
            siblings = list(session.scalars(select(Asset).where(Asset.job_id == job.id).order_by(Asset.index))) if job else []
            # 2. down: every upscale of the outputs, at any depth
            upscales, frontier = [], [a.id for a in siblings if a.kind == "output"] or [root.id]
            while frontier:
                found = list(session.scalars(select(Asset).where(Asset.parent_asset_id.in_(frontier),
                                                                 Asset.owner == owner)))
                upscales += found
                frontier = [a.id for a in found]
            references = [{"position": r.position, "upload_id": r.upload_id, "sha256": r.sha256, "role": r.role}
                          for r in session.scalars(select(JobReferenceRow).where(JobReferenceRow.job_id == job.id)
                                                   .order_by(JobReferenceRow.position))] if job else []
        crop = next((a for a in siblings if a.kind == "crop"), None)
        return AssetLineage(
            upload=upload_record(upload), job=job_record(job) if job is not None else None,
            crop=asset_record(crop) if crop is not None else None,
            outputs=[asset_record(a) for a in siblings if a.kind in ("output", "grid")],
            ancestors=[asset_record(a) for a in ancestors], upscales=[asset_record(a) for a in upscales],
            references=references,
        )

    def delete_asset(self, owner: str, asset_id: str, *, reason: str = "requested by the owner") -> dict[str, int]:
        """Delete one asset and every upscale made from it (at any depth); its job and the upload stay."""
        with self._db.session(write_lock=True) as session:
            asset = session.get(Asset, asset_id)
            if asset is None or asset.owner != owner:
                raise _no_asset(asset_id)
            doomed = [asset, *_descendants(session, owner, [asset.id])]
            jobs = _upscale_jobs(session, owner, doomed)
            self._drop(session, owner, doomed, jobs, subject=f"asset:{asset_id}", action="asset.deleted", reason=reason)
        return self._after([job.id for job in jobs], jobs=len(jobs), assets=len(doomed))

    def delete_job(self, owner: str, job_id: str, *, reason: str = "requested by the owner") -> dict[str, int]:
        """Delete a job with its images and the upscales made from them; a running job stops within a step. The
        upload stays."""
        with self._db.session(write_lock=True) as session:
            job = session.get(Job, job_id)
            if job is None or job.owner != owner:
                raise NotFound(f"no job {job_id}", hint="list your jobs with GET /v1/jobs")
            own = list(session.scalars(select(Asset).where(Asset.job_id == job_id)))
            doomed = [*own, *_descendants(session, owner, [a.id for a in own])]
            jobs = [job, *(j for j in _upscale_jobs(session, owner, doomed) if j.id != job_id)]
            for row in jobs:
                row.cancel_requested = True
            self._drop(session, owner, doomed, jobs, subject=f"job:{job_id}", action="job.deleted", reason=reason)
        return self._after([j.id for j in jobs], jobs=len(jobs), assets=len(doomed))

    def _drop(self, session, owner: str, assets: list[Asset], jobs: list[Job], *, subject: str, action: str,
              reason: str) -> None:
        keys = {a.blob_key for a in assets}
        for row in [*assets, *jobs]:
            session.delete(row)
        for key in keys:
            session.merge(BlobTombstone(blob_key=key))
        audit(session, actor=owner, owner=owner, action=action, subject=subject, reason=reason,
              jobs=len(jobs), assets=len(assets), blobs=len(keys))

    def _after(self, job_ids: list[str], **counts: int) -> dict[str, int]:
        self.on_jobs_deleted(job_ids)
        sweep_tombstones(self._db, self._blobs)
        return counts

    def _row(self, owner: str, asset_id: str) -> Asset:
        with self._db.session() as session:
            row = session.get(Asset, asset_id)
        if row is None or row.owner != owner:
            raise _no_asset(asset_id)
        return row


def _descendants(session, owner: str, ids: list[str]) -> list[Asset]:
    """Every asset made from `ids` by upscaling, at any depth."""
    found: list[Asset] = []
    frontier = list(ids)
    while frontier:
        more = list(session.scalars(select(Asset).where(Asset.parent_asset_id.in_(frontier), Asset.owner == owner)))
        found += more
        frontier = [a.id for a in more]
    return found


def _upscale_jobs(session, owner: str, assets: list[Asset]) -> list[Job]:
    """The upscale jobs whose only work was enlarging one of `assets` (they go with it)."""
    ids = [a.id for a in assets]
    if not ids:
        return []
    return list(session.scalars(select(Job).where(Job.owner == owner, Job.kind == "upscale",
                                                  Job.source_asset_id.in_(ids))))


def _no_asset(asset_id: str) -> NotFound:
    return NotFound(f"no asset {asset_id}", hint="asset ids are listed on their job")
