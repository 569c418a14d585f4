"""Privacy: retention policies with audited purges, exports of everything an owner has."""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select

from photogen.domain.jobs import request_view
from photogen.services.audit import audit
from photogen.services.tombstones import sweep_tombstones
from photogen.store.blobs import BlobStore
from photogen.store.database import Database
from photogen.store.tables import (
    Asset,
    AuditEvent,
    AvatarSet,
    BlobTombstone,
    IdentitySet,
    IdentitySetMember,
    Job,
    OwnerPolicy,
    Recipe,
    Upload,
    utcnow,
)


@dataclass(frozen=True)
class Retention:
    originals_days: int | None
    outputs_days: int | None


@dataclass(frozen=True)
class AuditEntry:
    """One audited action: who did what to which record, when and why (never the deleted content)."""

    at: datetime
    actor: str
    action: str
    subject: str
    reason: str
    details: dict[str, Any] | None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class PrivacyService:
    def __init__(self, db: Database, blobs: BlobStore, uploads, *, originals_days: int | None,
                 outputs_days: int | None, max_decoded_bytes: int | None = None,
                 original_exif: str = "keep") -> None:
        self._db = db
        self._original_exif = original_exif  # keep: exports give originals back byte for byte; strip: without GPS
        self._max_decoded_bytes = max_decoded_bytes  # the bound uploads were accepted under (None: the default)
        self._blobs = blobs
        self._uploads = uploads
        self._defaults = Retention(originals_days, outputs_days)

    # -- policies ------------------------------------------------------------------------------

    def retention(self, owner: str) -> Retention:
        with self._db.session() as session:
            policy = session.get(OwnerPolicy, owner)
        if policy is None:
            return self._defaults
        return Retention(policy.originals_days if policy.originals_days is not None else self._defaults.originals_days,
                         policy.outputs_days if policy.outputs_days is not None else self._defaults.outputs_days)

    def set_retention(self, owner: str, originals_days: int | None, outputs_days: int | None) -> Retention:
        with self._db.session() as session:
            policy = session.get(OwnerPolicy, owner) or OwnerPolicy(owner=owner)
            policy.originals_days, policy.outputs_days = originals_days, outputs_days
            session.merge(policy)
            audit(session, actor=owner, owner=owner, action="retention.set", subject=f"owner:{owner}",
                  reason="set by owner", originals_days=originals_days, outputs_days=outputs_days)
        return self.retention(owner)

    def owners(self) -> list[str]:
        with self._db.session() as session:
            return sorted(set(session.scalars(select(Upload.owner).distinct())))

    # -- purge ---------------------------------------------------------------------------------

    def purge(self, *, now: datetime | None = None, actor: str = "retention", dry_run: bool = False) -> dict[str, int]:
        """Apply every owner's retention: old uploads go with everything made from them; old outputs go.

        A dry run counts exactly what a real purge at the same moment removes (the same selection, the
        same blob sharing rules), without removing anything.
        """
        now = now or datetime.now(timezone.utc)
        counts = {"uploads": 0, "assets": 0, "jobs": 0, "blobs": 0}
        for owner in self.owners():
            policy = self.retention(owner)
            uploads = self._old_uploads(owner, now, policy.originals_days)
            outputs = self._old_outputs(owner, now, policy.outputs_days, set(uploads))
            if dry_run:
                removed = self._count(uploads, outputs)
            else:
                removed = self._remove(owner, actor, policy, uploads, outputs)
            for key in counts:
                counts[key] += removed[key]
        if not dry_run and any(counts.values()):
            self._db.checkpoint()  # deleted prompts and names leave the write-ahead log too
        return counts

    def _old_uploads(self, owner: str, now: datetime, days: int | None) -> list[str]:
        if days is None:
            return []
        cutoff = now - timedelta(days=days)
        with self._db.session() as session:
            rows = session.scalars(select(Upload).where(Upload.owner == owner).order_by(Upload.created_at))
            return [u.id for u in rows if _aware(u.created_at) < cutoff]

    def _old_outputs(self, owner: str, now: datetime, days: int | None, going: set[str]) -> list[str]:
        """Outputs past retention, except those that go with their upload anyway."""
        if days is None:
            return []
        cutoff = now - timedelta(days=days)
        with self._db.session() as session:
            rows = session.scalars(select(Asset).where(Asset.owner == owner, Asset.kind != "crop"))
            return [a.id for a in rows if _aware(a.created_at) < cutoff and a.upload_id not in going]

    def _count(self, uploads: list[str], outputs: list[str]) -> dict[str, int]:
        """What removing these uploads (in order, as `UploadService.delete` does) and outputs would remove."""
        counts = {"uploads": len(uploads), "jobs": 0, "assets": len(outputs), "blobs": 0}
        gone: set[str] = set()
        with self._db.session() as session:
            for upload_id in uploads:
                upload = session.get(Upload, upload_id)
                counts["jobs"] += len(list(session.scalars(select(Job.id).where(Job.upload_id == upload_id))))
                keys = set(session.scalars(select(Asset.blob_key).where(Asset.upload_id == upload_id)))
                counts["assets"] += len(list(session.scalars(select(Asset.id).where(Asset.upload_id == upload_id))))
                sharers = set(session.scalars(select(Upload.id).where(Upload.blob_key == upload.blob_key))) - gone
                if sharers <= {upload_id}:
                    keys.add(upload.blob_key)
                counts["blobs"] += len(keys)
                gone.add(upload_id)
            if outputs:
                counts["blobs"] += len(set(session.scalars(select(Asset.blob_key).where(Asset.id.in_(outputs)))))
        return counts

    def _remove(self, owner: str, actor: str, policy: Retention, uploads: list[str],
                outputs: list[str]) -> dict[str, int]:
        counts = {"uploads": 0, "jobs": 0, "assets": 0, "blobs": 0}
        for upload_id in uploads:
            removed = self._uploads.delete(owner, upload_id, actor=actor,
                                           reason=f"retention: originals after {policy.originals_days} days")
            counts["uploads"] += 1
            for key in ("jobs", "assets", "blobs"):
                counts[key] += removed[key]
        assets, blobs = self._purge_outputs(owner, outputs, policy.outputs_days, actor)
        counts["assets"] += assets
        counts["blobs"] += blobs
        return counts

    def _purge_outputs(self, owner: str, asset_ids: list[str], days: int | None, actor: str) -> tuple[int, int]:
        """Remove these outputs and their blobs; returns (assets, blobs) removed."""
        if not asset_ids:
            return 0, 0
        with self._db.session(write_lock=True) as session:
            old = list(session.scalars(select(Asset).where(Asset.owner == owner, Asset.id.in_(asset_ids))))
            keys = {asset.blob_key for asset in old}
            for key in keys:
                session.merge(BlobTombstone(blob_key=key))
            for asset in old:
                audit(session, actor=actor, owner=owner, action="asset.purged", subject=f"asset:{asset.id}",
                      reason=f"retention: outputs after {days} days", kind=asset.kind, job_id=asset.job_id)
                session.delete(asset)
        sweep_tombstones(self._db, self._blobs)
        return len(old), len(keys)

    def audit_log(self, owner: str, limit: int = 200) -> list[AuditEntry]:
        """The owner's audit log, newest first."""
        with self._db.session() as session:
            query = select(AuditEvent).where(AuditEvent.owner == owner).order_by(AuditEvent.id.desc()).limit(limit)
            return [AuditEntry(at=e.at, actor=e.actor, action=e.action, subject=e.subject, reason=e.reason,
                               details=e.details) for e in session.scalars(query)]

    # -- export --------------------------------------------------------------------------------

    def export(self, owner: str) -> Path:
        """A zip of everything the owner has: uploads, assets, and metadata JSON.

        Uploads come back as they were sent, byte for byte, when the EXIF policy keeps originals
        (PHOTOGEN_ORIGINAL_EXIF=keep); with `strip`, without GPS, serial numbers, maker notes or XMP (the copy
        stored at upload, or one stripped now of an upload stored before the policy changed). The manifest says
        which for each upload (`export.original`: "byte_for_byte" or "gps_stripped") and names each file.
        Assets are named in the download scheme (photogen.outputs.download_stem)."""
        from photogen.outputs import download_stem

        with self._db.session() as session:
            uploads = list(session.scalars(select(Upload).where(Upload.owner == owner)))
            jobs = list(session.scalars(select(Job).where(Job.owner == owner)))
            assets = list(session.scalars(select(Asset).where(Asset.owner == owner)))
            recipes = list(session.scalars(select(Recipe).where(Recipe.owner == owner)))
            audits = list(session.scalars(select(AuditEvent).where(AuditEvent.owner == owner)))
            identity_sets = list(session.scalars(select(IdentitySet).where(IdentitySet.owner == owner)))
            members = list(session.scalars(select(IdentitySetMember).where(
                IdentitySetMember.set_id.in_([s.id for s in identity_sets])))) if identity_sets else []
            avatar_sets = list(session.scalars(select(AvatarSet).where(AvatarSet.owner == owner)))
        handle = tempfile.NamedTemporaryFile(prefix="photogen-export-", suffix=".zip", delete=False)
        handle.close()
        path = Path(handle.name)
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            exported: dict[str, dict[str, Any]] = {}
            for upload in uploads:
                data, how = self._original(upload)
                name = f"uploads/{upload.id}.{_extension(data)}"
                archive.writestr(name, data)
                exported[upload.id] = {"file": name, "original": how, "sha256": hashlib.sha256(data).hexdigest()}
            asset_files: dict[str, str] = {}
            for asset in assets:
                stem = download_stem(asset.created_at, asset.job_id or asset.upload_id, asset.index, asset.seed,
                                     asset.kind)
                asset_files[asset.id] = f"assets/{asset.job_id or 'none'}/{stem}.png"
                archive.writestr(asset_files[asset.id], self._blobs.get(asset.blob_key))
            manifest = {
                "owner": owner,
                "exported_at": utcnow().isoformat(),
                "originals": {"policy": self._original_exif,
                              "byte_for_byte": sorted(i for i, e in exported.items() if e["original"] == "byte_for_byte"),
                              "gps_stripped": sorted(i for i, e in exported.items() if e["original"] == "gps_stripped")},
                "uploads": [{**_row(u, exclude={"blob_key"}), "export": exported[u.id]} for u in uploads],
                "jobs": [{**_row(j, exclude={"error_detail", "request_digest"}), "request": request_view(j.spec),
                          "spec": j.request} for j in jobs],
                "assets": [{**_row(a, exclude={"blob_key"}), "file": asset_files[a.id]} for a in assets],
                "recipes": [_row(r) for r in recipes],
                "audit": [_row(e) for e in audits],
                # each reference's measured values; its face embedding (128 numbers) is derived, not exported
                "identity_sets": [{**_row(s), "members": [_member(m) for m in members if m.set_id == s.id]}
                                  for s in identity_sets],
                "avatar_sets": [_row(a) for a in avatar_sets],
            }
            archive.writestr("photogen-export.json", json.dumps(manifest, indent=2, default=str))
        return path

    def _original(self, upload: Upload) -> tuple[bytes, str]:
        """The upload's bytes for an export and how they relate to what was sent."""
        from photogen.services.uploads import strip_original

        stored = self._blobs.get(upload.blob_key)
        as_sent = hashlib.sha256(stored).hexdigest() == upload.sha256  # else it was stripped when stored
        if as_sent and self._original_exif == "keep":
            return stored, "byte_for_byte"
        if as_sent:
            limit = {} if self._max_decoded_bytes is None else {"max_decoded_bytes": self._max_decoded_bytes}
            stored = strip_original(stored, max_pixels=2**40, **limit)
        return stored, "gps_stripped"


def _extension(data: bytes) -> str:
    """The file extension of image bytes, by their signature."""
    signatures = {b"\xff\xd8": "jpg", b"\x89PNG": "png", b"GIF8": "gif", b"RIFF": "webp", b"II*\x00": "tif",
                  b"MM\x00*": "tif"}
    for signature, extension in signatures.items():
        if data.startswith(signature):
            return extension
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypmsf1"):
        return "heic"
    if data[4:12] == b"ftypavif":
        return "avif"
    return "bin"


def _row(row, exclude: set[str] = frozenset()) -> dict[str, Any]:
    return {c.name: getattr(row, c.name) for c in row.__table__.columns if c.name not in exclude}


def _member(row: IdentitySetMember) -> dict[str, Any]:
    values = _row(row, exclude={"set_id"})
    if values["measures"]:
        values["measures"] = {k: v for k, v in values["measures"].items() if k != "embedding"}
    return values
