"""Jobs: submitted durable, claimed by a worker, cancelable, idempotent under retries."""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from photogen.domain.errors import InvalidRequest, PhotogenError
from photogen.domain.jobs import (
    GenerationSpec,
    JobOrigin,
    JobReference,
    JobSpec,
    JobState,
    RestoreSpec,
    SweepSpec,
    UpscaleSpec,
    check_transition,
    dump_job_spec,
    generation_spec,
)
from photogen.domain.params import GenerationRequest
from photogen.domain.records import AssetRecord, JobRecord, UploadRecord
from photogen.services.events import JobEvents, labels_of
from photogen.services.generation import resolve_seed
from photogen.services.job_counts import jobs_by_state
from photogen.services.limits import OwnerLimits
from photogen.services.records import asset_record, job_record, upload_record
from photogen.services.uploads import NotFound, UploadService
from photogen.services.work import WorkLimit
from photogen.store.database import Database
from photogen.store.tables import Asset, Job, JobReferenceRow, Upload, utcnow


# A job's assets, read on every GET /v1/jobs/{id}: built once (building a select costs more than running it).
_ASSETS_OF_JOB = select(Asset).where(Asset.job_id == bindparam("job_id")).order_by(Asset.kind, Asset.index)


class IdempotencyConflict(PhotogenError):
    code = "idempotency_conflict"


class JobFinished(PhotogenError):
    code = "job_finished"


def batch_key_for(request: GenerationRequest, upload: UploadRecord) -> str:
    """Jobs with equal keys come out at the same size and schedule, so a worker may batch them."""
    if request.width and request.height:
        shape = f"{request.width}x{request.height}"
    elif request.ratio is not None:
        w, h = request.ratio
        shape = f"r{w / h:.6f}"
    elif request.crop_preset:
        shape = f"preset:{request.crop_preset}"
    else:
        g = math.gcd(upload.width, upload.height)
        shape = f"r{upload.width // g}:{upload.height // g}"
    # Guidance may differ inside a batch: the engine applies it per image. References add tokens beside the
    # image's own, so their number must match; their sizes are matched by the engine's own key.
    key = [request.model, shape, str(request.steps), str(request.denoising_steps), request.scheduler]
    if request.references or request.reference_strength is not None:
        key += [f"refs:{len(request.references)}", f"rs:{request.reference_strength}"]
    return "|".join(key)


@dataclass(frozen=True)
class SourcePhoto:
    """The photo a job starts from, before it is stored.

    `identity` is what an Idempotency-Key compares: "sha256:<hex>" of the photo's bytes, or "url:<url>" for a
    photo fetched from a URL (so a retry neither fetches it nor stores it again). `store` makes the upload
    and returns its id; it runs only when no earlier job answers the key.
    """

    identity: str
    store: Callable[[], str]
    stores_new_upload: bool = True
    upload: UploadRecord | None = None  # the record, for a photo stored already

    @classmethod
    def of_upload(cls, upload: UploadRecord) -> SourcePhoto:
        return cls(f"sha256:{upload.sha256}", lambda: upload.id, stores_new_upload=False, upload=upload)


def _reference_uploads(request: GenerationRequest, source: UploadRecord,
                       held: dict[str, UploadRecord]) -> tuple[JobReference, ...]:
    """The source and each reference image of a request with references (`held`: the owner's upload of each
    SHA-256), by upload and SHA-256."""
    if not request.references:
        return ()
    return (JobReference(position=0, upload_id=source.id, sha256=source.sha256, role="source"),
            *(JobReference(position=position, upload_id=held[digest].id, sha256=digest, role="reference")
              for position, digest in enumerate(request.references, start=1) if digest in held))


def check_fits(request: GenerationRequest, upload: UploadRecord | None) -> None:
    """What the request model cannot check alone, refused at submission: the preset exists, the box fits the photo."""
    if request.crop_preset is not None:
        from photogen.intake.presets import get_preset

        try:
            get_preset(request.crop_preset)
        except PhotogenError as exc:
            raise InvalidRequest(f"crop_preset: {exc.message}", hint=exc.hint) from None
    if request.crop_box is not None and upload is not None:
        _left, _top, right, bottom = request.crop_box
        if right > upload.width or bottom > upload.height:
            raise InvalidRequest(
                f"crop_box: {list(request.crop_box)} reaches outside the {upload.width}x{upload.height} photo",
                hint="give the box (left, top, right, bottom) in the upright photo's pixels",
            )


class JobService:
    def __init__(self, db: Database, uploads: UploadService, events: JobEvents,
                 work_limit: WorkLimit | None = None, *, limits: OwnerLimits | None = None) -> None:
        self._db = db
        self._uploads = uploads
        self._events = events
        self._work_limit = work_limit  # requests asking for more pixel-steps are refused here
        self._limits = limits  # the active-jobs limit, checked again where each job is inserted
        self.on_submit = lambda: None  # the embedded worker sets this to wake itself
        # Called with (owner, request) before a photo sent with the request is stored for its job; raises to refuse
        # it (model, per-owner limits).
        self.admit: Callable[[str, dict[str, Any]], None] = lambda owner, request: None
        # Called with (owner, request) where nothing is stored before the job's insert; raises to refuse it (the
        # model). The per-owner limits are then checked once, in the insert's transaction.
        self.admit_model: Callable[[str, dict[str, Any]], None] = lambda owner, request: None
        # Called with each generation request (a sweep's every variant); raises UnsupportedControl when it uses a
        # control its model lacks (the catalogue knows the model's capabilities).
        self.check_controls: Callable[[GenerationRequest], None] = lambda request: None

    def submit(
        self,
        owner: str,
        request: GenerationRequest,
        source: str | SourcePhoto,
        *,
        idempotency_key: str | None = None,
        callback_url: str | None = None,
        parent_id: str | None = None,
        relation: str | None = None,
        changes: dict[str, Any] | None = None,
        via: JobOrigin | None = None,
        identity_id: str | None = None,
        warnings: tuple[str, ...] = (),
        delivery: str | None = None,
    ) -> tuple[JobRecord, bool]:
        """Queue a generation from an upload id or a photo not yet stored; returns (job, created).

        With `relation` "replay" or "vary" (and `changes`) it derives from job `parent_id`; `via` records the
        compatibility path a request came through and what of it was ignored; `identity_id` the identity set its
        photos were drawn from and `warnings` what the checks before the run warned about.
        A repeated idempotency key with the same request returns the first job, before anything is stored.
        """
        source = self._source(owner, source)
        dumped = request.model_dump(mode="json")
        asked = {"request": dumped, "parent": parent_id, **({"identity": identity_id} if identity_id else {})}
        if delivery is not None:
            asked["delivery"] = delivery
        digest = _digest(asked, source.identity, callback_url)
        # A photo stored already: nothing is stored before the insert, whose transaction looks the key up under the
        # owner's lock anyway, so the retry is looked up early only if a check below refuses the request.
        later = idempotency_key is not None and not source.stores_new_upload
        if not later and (earlier := self._retry_of(owner, idempotency_key, digest)) is not None:
            return earlier, False
        try:
            check_fits(request, None)
            self.check_controls(request)
            held = self._check_references(owner, request)
            if self._work_limit is not None:
                self._work_limit.check_generations([request])
            checked = self._admit(owner, dumped, stores=source.stores_new_upload)
            upload = self._store_checked(owner, source, request)
        except PhotogenError:
            if later and (earlier := self._retry_of(owner, idempotency_key, digest)) is not None:
                return earlier, False  # a retry gets its first job, whatever would refuse a new one now
            raise
        request = resolve_seed(request)  # fixed now, so the job can be reproduced from its row
        spec = generation_spec(request, parent_id=parent_id, relation=relation, changes=changes, via=via,
                               identity_id=identity_id, reference_uploads=_reference_uploads(request, upload, held),
                               warnings=warnings)
        if delivery is not None:
            spec = spec.model_copy(update={"delivery": delivery})
        with self._refused_drops_upload(owner, source, upload.id):
            queued = self._queue(
                owner, upload.id, spec, batch_key_for(request, upload),
                digest=digest, idempotency_key=idempotency_key, callback_url=callback_url, recipe=request.recipe,
                progress_total=request.denoising_steps, parent_id=parent_id, relation=relation, storage_checked=checked,
            )
        return self._drop_lost_race_upload(owner, source, upload.id, queued)

    def submit_sweep(self, owner: str, base: GenerationRequest, source: str | SourcePhoto, field: str, values: list,
                     *, idempotency_key: str | None = None, callback_url: str | None = None) -> tuple[JobRecord, bool]:
        """One job that makes an output per value of `field` (same crop, same seed) and a labelled grid."""
        from photogen.services.review import sweep_requests

        source = self._source(owner, source)
        sweep = {"field": field, "values": list(values)}
        digest = _digest({"sweep": {**base.model_dump(mode="json"), "sweep": sweep}}, source.identity, callback_url)
        variants = sweep_requests(base, field, values)  # refused here, before anything is stored
        check_fits(base, None)
        for variant in variants:
            self.check_controls(variant)
        self._check_references(owner, base)
        if self._work_limit is not None:
            self._work_limit.check_generations(variants)
        if (earlier := self._retry_of(owner, idempotency_key, digest)) is not None:
            return earlier, False
        checked = self._admit(owner, base.model_dump(mode="json"), stores=source.stores_new_upload)
        upload_id = self._store_checked(owner, source, base).id
        base = resolve_seed(base)
        spec = SweepSpec(base=base.model_copy(update={"num_images": 1}), field=field, values=list(values))
        with self._refused_drops_upload(owner, source, upload_id):
            queued = self._queue(
                owner, upload_id, spec, f"sweep:{uuid.uuid4().hex}", kind="sweep", digest=digest,
                idempotency_key=idempotency_key, callback_url=callback_url, recipe=base.recipe,
                progress_total=sum(v.denoising_steps for v in variants), storage_checked=checked,
            )
        return self._drop_lost_race_upload(owner, source, upload_id, queued)

    def _admit(self, owner: str, request: dict[str, Any], *, stores: bool) -> bool:
        """The checks before a job's insert; whether the owner's storage was checked here. Where the request stores
        a photo first (`stores`), the per-owner limits are checked now too, before it is stored; otherwise only the
        model is, and the insert's transaction checks the limits (one transaction for the submission)."""
        if stores:
            self.admit(owner, request)
            return True
        self.admit_model(owner, request)
        return False

    def _check_references(self, owner: str, request: GenerationRequest) -> dict[str, UploadRecord]:
        """Each reference image the request names (by the SHA-256 of its bytes) is one of the owner's uploads; the
        upload of each. (Photos drawn by upload id or from an identity set are also held to their preflight:
        services.references.)"""
        if not request.references:
            return {}
        held = self._uploads_by_sha256(owner, request.references)
        missing = [digest for digest in request.references if digest not in held]
        if missing:
            raise PhotogenError(
                f"references: no upload of yours has the SHA-256 {missing[0]}", code="reference_not_found",
                hint="upload each reference image first (POST /v1/uploads) and name it by the sha256 of its answer",
            )
        return held

    def _uploads_by_sha256(self, owner: str, digests: tuple[str, ...]) -> dict[str, UploadRecord]:
        """The owner's upload of each SHA-256 (the earliest, where the same bytes were uploaded twice)."""
        found: dict[str, UploadRecord] = {}
        with self._db.session() as session:
            rows = session.scalars(select(Upload).where(Upload.owner == owner, Upload.sha256.in_(set(digests)))
                                   .order_by(Upload.created_at, Upload.id))
            for row in rows:
                found.setdefault(row.sha256, upload_record(row))
        return found

    def _source(self, owner: str, source: str | SourcePhoto) -> SourcePhoto:
        """An upload id becomes its photo (checked to be the owner's); a photo not yet stored stays as it is."""
        return source if isinstance(source, SourcePhoto) else SourcePhoto.of_upload(self._uploads.get(owner, source))

    def _store_checked(self, owner: str, source: SourcePhoto, request: GenerationRequest) -> UploadRecord:
        """The source's upload, stored now if new; refused (and not kept) when the request does not fit it."""
        upload = source.upload or self._uploads.get(owner, source.store())
        with self._refused_drops_upload(owner, source, upload.id):
            check_fits(request, upload)
        return upload

    @contextmanager
    def _refused_drops_upload(self, owner: str, source: SourcePhoto, upload_id: str) -> Iterator[None]:
        """A refusal inside the block removes the upload this request stored for itself: it is nobody's."""
        try:
            yield
        except PhotogenError:
            if source.stores_new_upload:
                self._uploads.delete(owner, upload_id, actor="photogen", reason="the request it came with was refused")
            raise

    def _drop_lost_race_upload(self, owner: str, source: SourcePhoto, upload_id: str,
                               queued: tuple[JobRecord, bool]) -> tuple[JobRecord, bool]:
        """Two retries raced and the other one's job won: the upload this one stored is nobody's; remove it."""
        job, created = queued
        if not created and source.stores_new_upload and job.upload_id != upload_id:
            self._uploads.delete(owner, upload_id, actor="photogen", reason="a retry of the same request stored it twice")
        return queued

    def _retry_of(self, owner: str, idempotency_key: str | None, digest: str) -> JobRecord | None:
        """The job an earlier request with this key made (the same request), or None; a different request conflicts."""
        if not idempotency_key:
            return None
        with self._db.session() as session:
            job = _by_idempotency_key(session, owner, idempotency_key, digest)
        return job_record(job) if job is not None else None

    def vary(self, owner: str, job_id: str, changes: dict[str, Any], *, idempotency_key: str | None = None,
             index: int | None = None) -> tuple[JobRecord, bool]:
        """Change one thing: the same request and seed with one field changed, linked to the original. With
        `index`, only that image of the job is made again (its seed, one image). The delivery carries over."""
        from photogen.services.review import vary_request

        original = self.get(owner, job_id)
        spec = original.spec
        if not isinstance(spec, GenerationSpec):
            raise PhotogenError("only generation jobs can be varied", code="invalid_request", hint="vary a generation job")
        base = spec.request
        if index is not None:
            if index >= base.num_images or base.seed is None:
                raise PhotogenError(f"job {job_id} has no image {index}", code="invalid_request",
                                    hint=f"give an index from 0 to {base.num_images - 1}")
            base = base.model_copy(update={"seed": base.seed + index, "num_images": 1})
        request = vary_request(base, changes)
        return self.submit(owner, request, original.upload_id, idempotency_key=idempotency_key,
                           parent_id=original.id, relation="vary", changes=dict(changes),
                           identity_id=spec.identity_id, delivery=spec.delivery)

    def replay(self, owner: str, job_id: str, *, idempotency_key: str | None = None) -> tuple[JobRecord, bool]:
        """Run a stored job again; when it ends, its comparison says per output identical, close or different."""
        original = self.get(owner, job_id)
        spec = original.spec
        if not isinstance(spec, GenerationSpec) or original.state != JobState.SUCCEEDED.value:
            raise JobFinished(f"job {job_id} is {original.state} {original.kind}; only succeeded generations replay",
                              hint="replay a generation that succeeded", code="not_replayable")
        return self.submit(owner, spec.request, original.upload_id, idempotency_key=idempotency_key,
                           parent_id=original.id, relation="replay", identity_id=spec.identity_id)

    def submit_upscale(self, owner: str, asset_id: str, spec: dict[str, Any], *,
                       idempotency_key: str | None = None) -> tuple[JobRecord, bool]:
        """A separate, recorded pass that enlarges one asset."""
        with self._db.session() as session:  # the asset's row: its owner, size and upload are what is checked
            asset = session.get(Asset, asset_id)
            source_job = session.get(Job, asset.job_id) if asset is not None and asset.job_id else None
        if asset is None or asset.owner != owner:
            raise NotFound(f"no asset {asset_id}", hint="asset ids are listed on their job")
        if spec.get("model") is None and source_job is not None:  # the model that made it (or its parent)
            spec = {**spec, "model": _model_of(source_job.spec)}
        if self._work_limit is not None:
            self._work_limit.check_upscale((asset.width, asset.height), spec)
        request = {**spec, "num_images": 1}
        digest = _digest({"upscale": request, "asset": asset_id}, f"asset:{asset_id}", None)
        if (earlier := self._retry_of(owner, idempotency_key, digest)) is not None:
            return earlier, False
        checked = self._admit(owner, request, stores=False)
        upscale = UpscaleSpec.model_validate({**spec, "source_asset_id": asset_id})
        return self._queue(
            owner, asset.upload_id, upscale, f"upscale:{uuid.uuid4().hex}", kind="upscale", digest=digest,
            idempotency_key=idempotency_key, parent_id=asset.job_id, relation="upscale",
            source_asset_id=asset_id, progress_total=0, storage_checked=checked,
        )

    def submit_restoration(self, owner: str, source: str | SourcePhoto, *, mask: str | SourcePhoto | None = None,
                           model: str | None = None, colourise: bool = False, seed: int = 0, steps: int = 20,
                           idempotency_key: str | None = None) -> tuple[JobRecord, bool]:
        """Restore an old photo's scan at its own size, as one recorded job (photogen.runner.restore). `mask`
        (an upload id or a photo not yet stored) replaces the detected damage map."""
        source = self._source(owner, source)
        mask_source = self._source(owner, mask) if mask is not None else None
        options = {"model": model, "colourise": colourise, "seed": seed, "steps": steps}
        digest = _digest({"restore": options, "mask": mask_source.identity if mask_source else None},
                         source.identity, None)
        if (earlier := self._retry_of(owner, idempotency_key, digest)) is not None:
            return earlier, False
        checked = self._admit(owner, {**options, "num_images": 1}, stores=source.stores_new_upload or (
            mask_source is not None and mask_source.stores_new_upload))
        upload = source.upload or self._uploads.get(owner, source.store())
        with self._refused_drops_upload(owner, source, upload.id):
            mask_id = None
            if mask_source is not None:
                mask_upload = mask_source.upload or self._uploads.get(owner, mask_source.store())
                mask_id = mask_upload.id
                if (mask_upload.width, mask_upload.height) != (upload.width, upload.height):
                    if mask_source.stores_new_upload:
                        self._uploads.delete(owner, mask_id, actor="photogen", reason="the mask did not fit its scan")
                    raise InvalidRequest(
                        f"the mask is {mask_upload.width}x{mask_upload.height} but the scan is "
                        f"{upload.width}x{upload.height}",
                        hint="send the mask at the scan's own size (white where damaged): edit the job's "
                             "damage_mask asset, which has that size", code="mask_size_mismatch")
            spec = RestoreSpec(mask_upload_id=mask_id, model=model, colourise=colourise, seed=seed, steps=steps)
            queued = self._queue(owner, upload.id, spec, f"restore:{uuid.uuid4().hex}", kind="restore",
                                 digest=digest, idempotency_key=idempotency_key, progress_total=5,
                                 storage_checked=checked)
        return self._drop_lost_race_upload(owner, source, upload.id, queued)

    def _queue(self, owner: str, upload_id: str, spec: JobSpec, batch_key: str, *, digest: str,
               idempotency_key: str | None, kind: str = "generate", storage_checked: bool = True,
               **columns: Any) -> tuple[JobRecord, bool]:
        """Insert the job; callers have looked up `idempotency_key` and admitted it already (with
        `storage_checked` False: all but the owner's storage, which is checked here with the active jobs).

        The owner's active jobs are counted and the job inserted in one transaction that holds the owner's job
        lock (PostgreSQL: an advisory lock; SQLite: the database's write lock), so concurrent submissions, in
        this process or any other on the same database, cannot all pass the limit. Under that lock a retry
        that raced this one is found by its key and answered with its job.

        `kind` is the column the queue and clients read: replays and variations are "generate" there (they batch
        with generations and can be varied and replayed in turn); their spec says which they are."""
        job = Job(id=uuid.uuid4().hex, owner=owner, upload_id=upload_id, state=JobState.QUEUED.value,
                  request=dump_job_spec(spec),
                  batch_key=batch_key, kind=kind, idempotency_key=idempotency_key, request_digest=digest, **columns)
        with self._db.session(write_lock=True) as session:
            self._db.lock(session, f"jobs-of:{owner}")
            if idempotency_key and (earlier := _by_idempotency_key(session, owner, idempotency_key, digest)):
                return job_record(earlier), False
            if self._limits is not None:
                self._limits.check_job(owner, session=session, storage=not storage_checked)
            session.add(job)
            for reference in getattr(spec, "reference_uploads", ()):
                session.add(JobReferenceRow(job_id=job.id, position=reference.position, upload_id=reference.upload_id,
                                            sha256=reference.sha256, role=reference.role))
        # A worker may claim the job as soon as it is committed, and publish "running" before this line runs.
        self._events.publish(job.id, "state", only_first=True, state=job.state, labels=labels_of(job))
        self.on_submit()
        return job_record(job), True

    def get(self, owner: str, job_id: str) -> JobRecord:
        with self._db.session() as session:
            job = session.get(Job, job_id)
        if job is None or job.owner != owner:
            raise NotFound(f"no job {job_id}", hint="list your jobs with GET /v1/jobs")
        return job_record(job)

    def list(self, owner: str, state: str | None = None, limit: int = 100,
             upload_id: str | None = None) -> list[JobRecord]:
        query = select(Job).where(Job.owner == owner)
        if state:
            query = query.where(Job.state == state)
        if upload_id:
            query = query.where(Job.upload_id == upload_id)
        with self._db.session() as session:
            return [job_record(job) for job in session.scalars(query.order_by(Job.created_at.desc()).limit(limit))]

    def with_assets(self, owner: str, job_id: str) -> tuple[JobRecord, list[AssetRecord]]:
        """The job and its assets, read together."""
        with self._db.session() as session:
            job = session.get(Job, job_id)
            if job is None or job.owner != owner:
                raise NotFound(f"no job {job_id}", hint="list your jobs with GET /v1/jobs")
            return job_record(job), [asset_record(asset) for asset in session.scalars(_ASSETS_OF_JOB, {"job_id": job_id})]

    def assets(self, owner: str, job_id: str) -> list[AssetRecord]:
        return self.with_assets(owner, job_id)[1]

    def assets_of(self, jobs: list[JobRecord]) -> dict[str, list[AssetRecord]]:
        """The assets of each of `jobs` (read already for their owner), in one read."""
        found: dict[str, list[AssetRecord]] = {job.id: [] for job in jobs}
        if not found:
            return found
        with self._db.session() as session:
            query = select(Asset).where(Asset.job_id.in_(list(found))).order_by(Asset.kind, Asset.index)
            for asset in session.scalars(query):
                found[asset.job_id].append(asset_record(asset))
        return found

    def counts_by_state(self) -> dict[str, int]:
        """How many jobs are in each state, every owner's (for metrics)."""
        return jobs_by_state(self._db)

    def cancel(self, owner: str, job_id: str) -> JobRecord:
        """Queued jobs end at once; running ones stop at their next step and keep no outputs."""
        with self._db.session(write_lock=True) as session:
            job = session.get(Job, job_id)
            if job is None or job.owner != owner:
                raise NotFound(f"no job {job_id}", hint="list your jobs with GET /v1/jobs")
            state = JobState(job.state)
            if state.terminal:
                raise JobFinished(f"job {job_id} already {state.value}", hint="only queued or running jobs can be canceled")
            job.cancel_requested = True
            if state is JobState.QUEUED:
                check_transition(state, JobState.CANCELED)
                job.state = JobState.CANCELED.value
                job.finished_at = utcnow()
        if job.state == JobState.CANCELED.value:
            self._events.publish(job.id, "state", state=job.state, labels=labels_of(job))
        else:
            self._events.request_cancel(job.id)
        return job_record(job)


def _by_idempotency_key(session: Session, owner: str, key: str, digest: str) -> Job | None:
    """The owner's job made under `key`, or None; one made for a different request is a conflict."""
    job = session.scalar(select(Job).where(Job.owner == owner, Job.idempotency_key == key))
    if job is not None and job.request_digest != digest:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used for a different request",
            hint="use a new key for a new request; reuse a key only to retry the same request",
        )
    return job


def _model_of(spec: JobSpec) -> str | None:
    """The model a job ran (an upscale's own, when it named one)."""
    if isinstance(spec, SweepSpec):
        return spec.base.model
    if isinstance(spec, (UpscaleSpec, RestoreSpec)):
        return spec.model
    return spec.request.model


def _digest(payload: dict[str, Any], source: str, callback_url: str | None) -> str:
    """What an Idempotency-Key stands for: the same key must come with the same request.

    `source` names the photo by content (or URL), never by the id of an upload the request itself created.
    """
    return hashlib.sha256(
        json.dumps({**payload, "source": source, "callback": callback_url}, sort_keys=True, default=str).encode()
    ).hexdigest()
