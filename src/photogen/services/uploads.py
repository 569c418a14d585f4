"""Uploads: checked before anything is stored, kept content-addressed and immutable, deleted with all they made."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection

from sqlalchemy import Row, bindparam, select

from photogen.domain.errors import PhotogenError
from photogen.domain.records import UploadRecord
from photogen.intake.decode import DEFAULT_MAX_DECODED_BYTES, DecodedImage
from photogen.services.audit import audit
from photogen.services.identity_members import remove_deleted_upload
from photogen.services.previews import PreviewStore, preview_keys
from photogen.services.records import upload_record
from photogen.services.tombstones import sweep_tombstones
from photogen.store.blobs import BlobStore
from photogen.store.database import Database
from photogen.store.tables import Asset, BlobTombstone, Job, Upload

# An upload's columns by id, read on every submission that names one: a Core statement built once.
_UPLOAD_ROW = select(*Upload.__table__.columns).where(Upload.id == bindparam("upload_id"))


class NotFound(PhotogenError):
    code = "not_found"


def original_key(owner: str, sha256: str) -> str:
    """Originals are addressed by content, per owner: the same photo uploaded twice is stored once."""
    return f"originals/{safe_owner(owner)}/{sha256}"


def safe_owner(owner: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in owner) or "_"


class UploadService:
    def __init__(self, db: Database, blobs: BlobStore, *, max_pixels: int, max_bytes: int,
                 strip_originals: bool = False, max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES) -> None:
        self._db = db
        self._blobs = blobs
        self._max_pixels = max_pixels
        self._max_bytes = max_bytes
        self._max_decoded_bytes = max_decoded_bytes
        self._strip = strip_originals
        self._previews = PreviewStore(blobs, max_pixels=max_pixels, max_decoded_bytes=max_decoded_bytes)
        # told the ids of the jobs a delete removed, so a running one stops now, not at its next row read
        self.on_jobs_deleted: Callable[[list[str]], object] = lambda job_ids: None

    def create(
        self, owner: str, data: bytes, filename: str = "", content_type: str | None = None, use: str = "general"
    ) -> UploadRecord:
        """Check the photo (refusing unreadable files), store the original untouched, record the preflight report."""
        from photogen.intake.pipeline import intake_photo

        # 1. check the bytes before storing anything; the report is part of the answer
        claimed = content_type if content_type and content_type.startswith("image/") else (filename or None)
        result = intake_photo(data, use=use, claimed_type=claimed, max_pixels=self._max_pixels,
                              max_bytes=self._max_bytes, max_decoded_bytes=self._max_decoded_bytes)
        decoded, preflight = result.decoded, result.report.as_dict()
        # 2. the original, untouched, and its previews; then its row. If the row fails, blobs this call
        # created are removed.
        key = original_key(owner, decoded.sha256)
        created_blob = not self._blobs.exists(key)
        if created_blob:
            if self._strip:  # the protected store keeps no GPS or serials either
                self._blobs.put(key, strip_original(data, max_pixels=self._max_pixels,
                                                    max_decoded_bytes=self._max_decoded_bytes))
            else:
                self._blobs.put(key, data)
        created_previews = self._previews.keep(key, result.previews)
        row = Upload(
            id=uuid.uuid4().hex,
            owner=owner,
            sha256=decoded.sha256,
            blob_key=key,
            filename=(clean_filename(filename) or derived_filename(decoded.sha256, decoded.format))[:300],
            format=decoded.format,
            width=decoded.size[0],
            height=decoded.size[1],
            size_bytes=len(data),
            preflight=preflight,
        )
        try:
            with self._db.session() as session:
                session.add(row)
        except BaseException:
            for created in [*created_previews, *([key] if created_blob else [])]:
                self._blobs.delete(created)
            raise
        return upload_record(row)

    def preview(self, owner: str, upload_id: str, long_side: int) -> bytes:
        """A JPEG preview (upright, no metadata) from the stored ones; the original is decoded at most once per side."""
        upload = self._row(owner, upload_id)
        return self._previews.preview(upload.blob_key, (upload.width, upload.height), long_side,
                                      lambda: self._blobs.get(upload.blob_key))

    def analysis_image(self, owner: str, upload_id: str) -> DecodedImage:
        """The upload at the size crops are planned on (1024 px), from its stored preview."""
        upload = self._row(owner, upload_id)
        return self._previews.analysis_image(upload.blob_key, (upload.width, upload.height), upload.format,
                                             upload.sha256, lambda: self._blobs.get(upload.blob_key))

    def get(self, owner: str, upload_id: str) -> UploadRecord:
        return upload_record(self._row(owner, upload_id))

    def list(self, owner: str, limit: int = 100) -> list[UploadRecord]:
        with self._db.session() as session:
            query = select(Upload).where(Upload.owner == owner).order_by(Upload.created_at.desc()).limit(limit)
            return [upload_record(row) for row in session.scalars(query)]

    def held_sha256s(self, owner: str, digests: Collection[str]) -> set[str]:
        """Which of these SHA-256s (of original bytes) are the owner's uploads: how requests name references."""
        if not digests:
            return set()
        with self._db.session() as session:
            query = select(Upload.sha256).where(Upload.owner == owner, Upload.sha256.in_(list(digests)))
            return set(session.scalars(query))

    def _row(self, owner: str, upload_id: str) -> Row:
        """The owner's upload's columns, as a read-only row (NotFound for another owner's)."""
        with self._db.reading() as connection:
            row = connection.execute(_UPLOAD_ROW, {"upload_id": upload_id}).first()
        if row is None or row.owner != owner:
            raise NotFound(f"no upload {upload_id}", hint="list your uploads with GET /v1/uploads")
        return row

    def delete(self, owner: str, upload_id: str, *, actor: str | None = None,
               reason: str = "requested by the owner") -> dict[str, int]:
        """Delete an upload and everything derived from it: jobs, assets, their blobs; it leaves the identity sets
        holding it, which record that in their history. The audit log says so."""
        with self._db.session(write_lock=True) as session:
            upload = session.get(Upload, upload_id)
            if upload is None or upload.owner != owner:
                raise NotFound(f"no upload {upload_id}", hint="list your uploads with GET /v1/uploads")
            assets = list(session.scalars(select(Asset).where(Asset.upload_id == upload_id)))
            jobs = list(session.scalars(select(Job).where(Job.upload_id == upload_id)))
            job_ids = [job.id for job in jobs]
            keys = {a.blob_key for a in assets}
            still_used = session.scalar(
                select(Upload.id).where(Upload.blob_key == upload.blob_key, Upload.id != upload_id).limit(1)
            )
            previews: list[str] = []
            if still_used is None:
                keys.add(upload.blob_key)
                previews = preview_keys(upload.blob_key)  # keyed like the original, so they go with it
            for job in jobs:  # a running job notices on its next step and drops its results
                job.cancel_requested = True
            for row in [*assets, *jobs, upload]:
                session.delete(row)
            for key in [*keys, *previews]:
                session.merge(BlobTombstone(blob_key=key))
            sets = remove_deleted_upload(session, owner=owner, upload_id=upload_id, actor=actor or owner,
                                         reason=reason)
            audit(session, actor=actor or owner, owner=owner, action="upload.deleted", subject=f"upload:{upload_id}",
                  reason=reason, jobs=len(jobs), assets=len(assets), blobs=len(keys), identity_sets=sets)
        self.on_jobs_deleted(job_ids)
        sweep_tombstones(self._db, self._blobs)
        self._db.checkpoint()  # the deleted rows' old versions leave the write-ahead log too
        return {"jobs": len(jobs), "assets": len(assets), "blobs": len(keys)}


FORMAT_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "HEIF": "heic", "AVIF": "avif",
                     "TIFF": "tif", "BMP": "bmp"}


def clean_filename(name: str | None) -> str:
    """A name as a file's own: its last path part, without control characters (what a browser or URL gave)."""
    if not name:
        return ""
    last = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in last if c.isprintable()).strip()


def derived_filename(sha256: str, image_format: str) -> str:
    """The name an upload sent without one records: photo-<first 12 hex of its SHA-256>.<its format's extension>."""
    return f"photo-{sha256[:12]}.{FORMAT_EXTENSIONS.get(image_format, image_format.lower() or 'bin')}"


def url_filename(url: str) -> str:
    """A URL's last path part, percent-decoded ("" when the path ends in a slash or is empty)."""
    from urllib.parse import unquote, urlsplit

    return clean_filename(unquote(urlsplit(url).path))


def strip_original(data: bytes, *, max_pixels: int, max_decoded_bytes: int | None = None) -> bytes:
    """The upload re-encoded upright without GPS, serials, maker notes or XMP (JPEG stays JPEG at high quality)."""
    from photogen.intake.decode import decode_image
    from photogen.intake.derivatives import encode_derivative

    limit = {} if max_decoded_bytes is None else {"max_decoded_bytes": max_decoded_bytes}
    decoded = decode_image(data, max_pixels=max_pixels, max_bytes=2**40, **limit)
    kind = "JPEG" if decoded.format == "JPEG" else "PNG"
    quality = max(90, decoded.jpeg_quality or 95)
    return encode_derivative(decoded.image, kind, quality=quality, metadata=decoded.metadata)
