"""The relational schema. Rows hold metadata; bytes live in the blob store under `blob_key`."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from photogen.domain.jobs import JobSpec, dump_job_spec, parse_job_spec


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings; the key itself is never stored
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Upload(Base):
    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    blob_key: Mapped[str] = mapped_column(String(300))
    filename: Mapped[str] = mapped_column(String(300), default="")
    format: Mapped[str] = mapped_column(String(20))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    preflight: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("owner", "idempotency_key", name="uq_jobs_owner_idempotency_key"),
        Index("ix_jobs_state_created", "state", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200), index=True)
    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    request: Mapped[dict[str, Any]] = mapped_column()  # the JobSpec as JSON: read it through `spec`
    batch_key: Mapped[str] = mapped_column(String(300), default="")
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)
    request_digest: Mapped[str | None] = mapped_column(String(64), default=None)
    callback_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    kind: Mapped[str] = mapped_column(String(20), default="generate", server_default="generate")  # or "upscale"
    recipe: Mapped[str | None] = mapped_column(String(120), index=True, default=None)  # "name@version"
    parent_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    relation: Mapped[str | None] = mapped_column(String(20), default=None)  # "replay", "vary", "upscale"
    source_asset_id: Mapped[str | None] = mapped_column(String(32), default=None)  # what an upscale enlarges
    comparison: Mapped[dict[str, Any] | None] = mapped_column(default=None)  # a replay's verdict per output
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    progress_step: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    crop: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    error_code: Mapped[str | None] = mapped_column(String(100), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    error_detail: Mapped[str | None] = mapped_column(Text, default=None)  # traceback, never sent to clients
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(100), default=None)  # the worker running it
    lease_until: Mapped[datetime | None] = mapped_column(default=None)  # renewed by the worker's heartbeat

    @property
    def spec(self) -> JobSpec:
        """What the job does, typed (generate, sweep, upscale, replay or vary). Parsed once per row object and
        stored `request` value (specs are frozen; a new spec is stored by assigning a new value, as the setter
        does), since a claim, a run and every read of the job ask for it."""
        request = self.request
        parsed = self.__dict__.get("_parsed_spec")
        if parsed is None or parsed[0] is not request:
            parsed = (request, parse_job_spec(request))
            self.__dict__["_parsed_spec"] = parsed
        return parsed[1]

    @spec.setter
    def spec(self, value: JobSpec) -> None:
        self.request = dump_job_spec(value)


class Asset(Base):
    __tablename__ = "assets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200), index=True)
    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True, default=None)
    kind: Mapped[str] = mapped_column(String(20))  # "crop" or "output"
    index: Mapped[int] = mapped_column(Integer, default=0)
    seed: Mapped[int | None] = mapped_column(default=None)
    blob_key: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    record: Mapped[dict[str, Any]] = mapped_column()
    scores: Mapped[dict[str, Any] | None] = mapped_column(default=None)  # identity / structure similarity
    parent_asset_id: Mapped[str | None] = mapped_column(String(32), default=None)  # an upscale's source
    size_bytes: Mapped[int | None] = mapped_column(Integer, default=None)  # the blob's size, for storage quotas
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Recipe(Base):
    """One immutable version of a recipe; editing adds the next version."""

    __tablename__ = "recipes"
    __table_args__ = (UniqueConstraint("owner", "name", "version", name="uq_recipes_owner_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(200), index=True)  # "builtin" for the shipped ones
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    fields: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OwnerPolicy(Base):
    """Per-owner retention; missing values fall back to the settings."""

    __tablename__ = "owner_policies"

    owner: Mapped[str] = mapped_column(String(200), primary_key=True)
    originals_days: Mapped[int | None] = mapped_column(default=None)
    outputs_days: Mapped[int | None] = mapped_column(default=None)


class AuditEvent(Base):
    """Who did what to which record, when and why; never the deleted content itself."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(50))
    subject: Mapped[str] = mapped_column(String(100))  # e.g. "upload:3f2a..."
    reason: Mapped[str] = mapped_column(String(500), default="")
    details: Mapped[dict[str, Any] | None] = mapped_column(default=None)


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    event_id: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    duration_s: Mapped[float | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BlobTombstone(Base):
    """Blobs whose rows are gone, written in the same transaction as the delete.

    Blobs are removed after the commit; a failure leaves the tombstone, and the next sweep finishes
    the job. So a crash can neither orphan a blob nor leave a row pointing at a missing one.
    """

    __tablename__ = "blob_tombstones"

    blob_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ServerState(Base):
    """Facts the server decides once and keeps, such as whether API keys are required."""

    __tablename__ = "server_state"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookOutbox(Base):
    """A webhook event waiting to be delivered: kept until delivered or out of attempts, so restarts lose none."""

    __tablename__ = "webhook_outbox"
    __table_args__ = (Index("ix_webhook_outbox_state_due", "state", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    job_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    url: Mapped[str] = mapped_column(String(2000))
    event_id: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict[str, Any]] = mapped_column()
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkerRecord(Base):
    """A worker process that claims jobs: seen in health while its heartbeat is recent."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)  # host:pid:random, also jobs.claimed_by
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))  # embedded or celery
    gpu: Mapped[str | None] = mapped_column(String(50), default=None)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    details: Mapped[dict[str, Any] | None] = mapped_column(default=None)  # models loaded, memory


class IdentitySet(Base):
    """A named group of one owner's uploads of one person or one product: the references generations draw on."""

    __tablename__ = "identity_sets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="person")  # person or product
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdentitySetMember(Base):
    """One upload's membership of a set, in the set's order. Removing it keeps the row as the set's history
    (when, by whom, why) and clears its measures, the face embedding among them."""

    __tablename__ = "identity_set_members"
    __table_args__ = (Index("ix_identity_set_members_set_position", "set_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    set_id: Mapped[str] = mapped_column(ForeignKey("identity_sets.id", ondelete="CASCADE"))
    upload_id: Mapped[str] = mapped_column(String(32), index=True)  # no foreign key: the record outlives the upload
    position: Mapped[int] = mapped_column(Integer)
    measures: Mapped[dict[str, Any] | None] = mapped_column(default=None)  # photogen.services.identity_members
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    added_by: Mapped[str] = mapped_column(String(200))
    removed_at: Mapped[datetime | None] = mapped_column(default=None)
    removed_by: Mapped[str | None] = mapped_column(String(200), default=None)
    removed_reason: Mapped[str | None] = mapped_column(String(200), default=None)


class JobReferenceRow(Base):
    """One photo a generation drew on: its source (position 0) or a reference image, by upload id and by the
    SHA-256 of the photo's bytes. No foreign key to the upload: the record outlives a deleted reference."""

    __tablename__ = "job_references"
    __table_args__ = (UniqueConstraint("job_id", "position", name="uq_job_references_job_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    upload_id: Mapped[str] = mapped_column(String(32), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(20))  # source or reference


class AvatarSet(Base):
    """An avatar set: one identity set, a generation job per scenario (and retries), and the grid they make."""

    __tablename__ = "avatar_sets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200), index=True)
    identity_id: Mapped[str] = mapped_column(String(32), index=True)
    spec: Mapped[dict[str, Any]] = mapped_column()  # scenarios, images per scenario, model, seed, retries
    runs: Mapped[dict[str, Any]] = mapped_column()  # {"runs": [{scenario, job_id, attempt, retry_of}]}
    grid_asset_id: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
