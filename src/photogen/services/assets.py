"""Assets: the images jobs made, their bytes and their lineage (upload -> crop -> job -> output -> upscale ...)."""

from __future__ import annotations

from sqlalchemy import select

from photogen.domain.records import AssetLineage, AssetRecord
from photogen.services.records import asset_record, job_record, upload_record
from photogen.services.uploads import NotFound
from photogen.store.blobs import BlobStore
from photogen.store.database import Database
from photogen.store.tables import Asset, Job, JobReferenceRow, Upload


class AssetService:
    def __init__(self, db: Database, blobs: BlobStore) -> None:
        self._db = db
        self._blobs = blobs

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

    def _row(self, owner: str, asset_id: str) -> Asset:
        with self._db.session() as session:
            row = session.get(Asset, asset_id)
        if row is None or row.owner != owner:
            raise _no_asset(asset_id)
        return row


def _no_asset(asset_id: str) -> NotFound:
    return NotFound(f"no asset {asset_id}", hint="asset ids are listed on their job")
