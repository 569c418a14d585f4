"""The embedded worker: one thread that owns the model, claims queued jobs and runs them in batches."""

from __future__ import annotations

import io
import logging
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from PIL import Image
from sqlalchemy import select

from photogen.domain.errors import PhotogenError
from photogen.domain.jobs import JobState, check_transition
from photogen.domain.params import GenerationRequest
from photogen.engines.base import InterruptCheck, PreparedRequest, batch_key
from photogen.engines.cache import ModelCache
from photogen.engines.interrupt import Deadline
from photogen.intake.crop import CropPlan
from photogen.intake.decode import DEFAULT_MAX_DECODED_BYTES, decode_image
from photogen.intake.derivatives import encode_derivative
from photogen.outputs import encode_png, max_difference, pixel_sha256
from photogen.services.events import JobEvents
from photogen.services.generation import output_record, prepare_request
from photogen.services.review import score_images
from photogen.services.uploads import safe_owner
from photogen.services.work import WorkLimit
from photogen.store.blobs import BlobStore
from photogen.store.database import Database
from photogen.store.tables import Asset, Job, Upload, utcnow

log = logging.getLogger("photogen.worker")
CLOSE_LEVELS = 2  # a replay within this many 8-bit levels of the original counts as close
PROGRESS_WRITE_EVERY_S = 0.5
CANCEL_POLL_EVERY_S = 1.0  # how often a running job's row is read for a cancel made elsewhere, or its deletion


class JobCanceled(Exception):
    """Raised from the step callback or the interrupt check when every job of the running batch was canceled
    (or deleted)."""


class WorkerStopping(Exception):
    """Raised from the interrupt check when the worker is asked to stop: its jobs go back to the queue."""


class EmbeddedWorker:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        models: ModelCache,
        events: JobEvents,
        *,
        max_attempts: int = 3,
        max_batch_images: int = 8,
        max_pixels: int = 50_000_000,
        max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES,
        on_finished: Callable[[Job], None] | None = None,
        batch_window_s: float = 0.0,
        job_timeout_s: float | None = None,
        work_limit: WorkLimit | None = None,
        signer=None,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._db = db
        self._blobs = blobs
        self._models = models
        self._events = events
        self._max_attempts = max_attempts
        self._max_batch_images = max_batch_images
        self._max_pixels = max_pixels
        self._max_decoded_bytes = max_decoded_bytes  # the same bound uploads were accepted under
        self._on_finished = on_finished or (lambda job: None)
        self._window = batch_window_s
        self._job_timeout_s = job_timeout_s
        self._work_limit = work_limit  # for requests submitted before their model was loaded
        self._signer = signer  # signs outputs with Content Credentials when configured
        self._last_ingredient: tuple[str, tuple[bytes, str, str]] | None = None
        self._clock = clock
        self._sleep = sleep
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def recover(self) -> dict[str, int]:
        """After a restart: jobs left running go back to the queue, or fail once out of attempts."""
        requeued = failed = 0
        with self._db.session(write_lock=True) as session:
            for job in session.scalars(select(Job).where(Job.state == JobState.RUNNING.value)):
                if job.cancel_requested:
                    job.state, job.finished_at = JobState.CANCELED.value, utcnow()
                elif job.attempts >= self._max_attempts:
                    job.state, job.finished_at = JobState.FAILED.value, utcnow()
                    job.error_code = "worker_stopped"
                    job.error_message = f"the worker stopped during each of {job.attempts} attempts"
                    failed += 1
                else:
                    job.state = JobState.QUEUED.value
                    job.progress_step = 0
                    requeued += 1
        return {"requeued": requeued, "failed": failed}

    def start(self) -> None:
        self.recover()
        self._thread = threading.Thread(target=self._loop, name="photogen-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def notify(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except Exception:  # the loop must survive anything a single batch does
                log.exception("worker batch failed")
                worked = False
            if not worked:
                self._wake.wait(timeout=1.0)
                self._wake.clear()

    # -- one round ---------------------------------------------------------------------------

    def run_once(self) -> bool:
        """Claim compatible queued jobs and run them; False when the queue was empty."""
        self.wait_for_batch()
        jobs = self.claim()
        if not jobs:
            return False
        prepared: list[tuple[Job, PreparedRequest, CropPlan, Any]] = []
        for job in jobs:
            try:
                if job.kind != "generate":
                    from photogen.queue.review_runs import RUNNERS

                    RUNNERS[job.kind](self, job)
                else:
                    prepared.append(self._prepare(job))
            except WorkerStopping:
                self._requeue([job])
            except Exception as exc:  # one bad job must not sink the batch
                self._fail(job, exc)
        groups: dict[tuple[Any, ...], list[tuple[Job, PreparedRequest, CropPlan, Any]]] = {}
        for entry in prepared:
            groups.setdefault(batch_key(entry[1]), []).append(entry)
        for group in groups.values():
            self._run_group(group)
        return True

    def wait_for_batch(self) -> None:
        """Dynamic batching: hold the oldest queued job until its batch is full or its window has passed.

        The window is counted from the job's submission, so no job waits longer than the window,
        and a lone job is not held at all once the window has gone by.
        """
        if self._window <= 0:
            return
        while True:
            with self._db.session() as session:
                first = session.scalar(
                    select(Job).where(Job.state == JobState.QUEUED.value).order_by(Job.created_at).limit(1)
                )
                if first is None:
                    return
                waiting = session.scalars(
                    select(Job.request).where(Job.state == JobState.QUEUED.value, Job.batch_key == first.batch_key)
                ).all()
            if sum(request["num_images"] for request in waiting) >= self._max_batch_images:
                return
            created = first.created_at if first.created_at.tzinfo else first.created_at.replace(tzinfo=timezone.utc)
            left = self._window - (self._clock() - created).total_seconds()
            if left <= 0:
                return
            pause = min(left, 0.005)
            if self._sleep is not None:
                self._sleep(pause)
            else:
                self._stop.wait(pause)
            if self._stop.is_set():
                return

    def claim(self) -> list[Job]:
        with self._db.session(write_lock=True) as session:
            queued = select(Job).where(Job.state == JobState.QUEUED.value).order_by(Job.created_at)
            first = session.scalar(queued.limit(1).with_for_update(skip_locked=True))
            if first is None:
                return []
            candidates = session.scalars(
                queued.where(Job.batch_key == first.batch_key, Job.id != first.id)
                .limit(self._max_batch_images)
                .with_for_update(skip_locked=True)
            )
            claimed, images = [first], first.request["num_images"]
            for job in candidates:
                if images + job.request["num_images"] > self._max_batch_images:
                    break
                claimed.append(job)
                images += job.request["num_images"]
            for job in claimed:
                check_transition(JobState(job.state), JobState.RUNNING)
                job.state = JobState.RUNNING.value
                job.attempts += 1
                job.started_at = utcnow()
                job.progress_step = 0
        for job in claimed:
            self._events.publish(job.id, "state", state=job.state)
        return claimed

    def _prepare(self, job: Job) -> tuple[Job, PreparedRequest, CropPlan, Any]:
        with self._db.session() as session:
            upload = session.get(Upload, job.upload_id)
        if upload is None:
            raise PhotogenError("the job's upload was deleted", code="upload_deleted")
        request = GenerationRequest.model_validate(job.request)
        model = self._models.get(request.model)
        decoded = decode_image(self._blobs.get(upload.blob_key), max_pixels=self._max_pixels, max_bytes=2**40,
                               max_decoded_bytes=self._max_decoded_bytes)
        item, plan = prepare_request(decoded, request, model)
        self.check_work([request], item.size)
        source = {"name": upload.filename, "sha256": upload.sha256, "format": upload.format,
                  "size": [upload.width, upload.height], "upload_id": upload.id}
        return job, item, plan, (model, source)

    def _run_group(self, group: list[tuple[Job, PreparedRequest, CropPlan, Any]]) -> None:
        jobs = [entry[0] for entry in group]
        model = group[0][3][0]
        total = group[0][1].request.denoising_steps
        last_write = [0.0]
        interrupt = self.interrupt_for(jobs)

        def on_step(done: int, steps: int) -> None:
            for job in jobs:
                self._events.publish(job.id, "progress", step=done, total=steps, images=job.request["num_images"])
            now = time.monotonic()
            if now - last_write[0] >= PROGRESS_WRITE_EVERY_S or done == steps:
                last_write[0] = now
                self._write_progress(jobs, done)
            interrupt()

        try:
            images = model.generate([entry[1] for entry in group], on_step, interrupt)
        except JobCanceled:
            for job in jobs:
                self._finish(job, JobState.CANCELED)
            return
        except WorkerStopping:
            self._requeue(jobs)
            return
        except Exception as exc:
            for job in jobs:
                self._fail(job, exc)
            return
        for (job, item, plan, (model, source)), job_images in zip(group, images):
            if self._cancel_requested(job, from_db=True):
                self._finish(job, JobState.CANCELED)
                continue
            try:
                self._store_outputs(job, item, plan, model, source, job_images, total)
            except Exception as exc:
                self._fail(job, exc)

    def _store_outputs(self, job, item, plan, model, source, images, total) -> None:
        """The crop and each output with its record and review scores, committed together."""
        request = item.request
        base = output_record(request, plan, model, source)
        folder = f"assets/{safe_owner(job.owner)}/{job.id}"
        pieces = [self.piece(job, "crop", 0, None, f"{folder}/crop.png", item.image,
                             {"crop": plan.as_dict(), "source": source}, plain=True)]
        scores = score_images(item.image, images)
        for index, (seed, image, score) in enumerate(zip(request.seeds(), images, scores)):
            record = {**base, "index": index, "seed": seed, "pixel_sha256": pixel_sha256(image), "job_id": job.id}
            piece = self.piece(job, "output", index, seed, f"{folder}/{index:02d}_s{seed}.png", image, record)
            piece[2].scores = score
            pieces.append(piece)
        comparison = self._compare_with_parent(job, pieces)
        self.commit(job, pieces, crop=plan.as_dict(), progress_step=total, comparison=comparison)

    def piece(self, job: Job, kind: str, index: int, seed: int | None, key: str, image, record: dict,
              *, plain: bool = False, parent_asset_id: str | None = None) -> tuple[str, bytes, Asset]:
        """One asset to commit: its blob key, PNG bytes (record embedded unless `plain`) and row.

        With Content Credentials on, outputs and upscales are signed naming the upload as ingredient.
        """
        data = encode_derivative(image, "PNG") if plain else encode_png(image, record)
        if self._signer is not None and kind in ("output", "upscale"):
            upload_bytes, name, image_format = self._ingredient(job.upload_id)
            data = self._signer.sign(data, record, upload_bytes=upload_bytes, upload_name=name,
                                     upload_format=image_format)
        row = _asset(job, kind, index, seed, key, data, image, record)
        row.parent_asset_id = parent_asset_id
        return key, data, row

    def _ingredient(self, upload_id: str) -> tuple[bytes, str, str]:
        """The upload an output is signed against; kept for the next output of the same upload."""
        if self._last_ingredient is None or self._last_ingredient[0] != upload_id:
            with self._db.session() as session:
                upload = session.get(Upload, upload_id)
            self._last_ingredient = (upload_id, (self._blobs.get(upload.blob_key), upload.filename, upload.format))
        return self._last_ingredient[1]

    def commit(self, job: Job, pieces: list[tuple[str, bytes, Asset]], **updates: Any) -> None:
        """Blobs first, then all rows and the job's success in one transaction; on failure the new blobs go."""
        written: list[str] = []
        try:
            for key, data, _row in pieces:
                self._blobs.put(key, data)
                written.append(key)
            with self._db.session(write_lock=True) as session:
                current = session.get(Job, job.id)
                if current is None:
                    raise PhotogenError("the job was deleted while it ran", code="job_deleted")
                check_transition(JobState(current.state), JobState.SUCCEEDED)
                session.add_all([row for _key, _data, row in pieces])
                current.state = JobState.SUCCEEDED.value
                current.finished_at = utcnow()
                for name, value in updates.items():
                    setattr(current, name, value)
        except BaseException:
            for key in written:
                self._blobs.delete(key)
            raise
        outputs = [row.id for _key, _data, row in pieces if row.kind != "crop"]
        self._events.publish(job.id, "state", state=JobState.SUCCEEDED.value, assets=outputs)
        self._on_finished(self._reload(job.id) or job)

    def _compare_with_parent(self, job: Job, pieces: list[tuple[str, bytes, Asset]]) -> dict | None:
        """For a replay: each output against the same output of the job it replays."""
        if job.relation != "replay" or not job.parent_id:
            return None
        with self._db.session() as session:
            originals = {a.index: a for a in session.scalars(
                select(Asset).where(Asset.job_id == job.parent_id, Asset.kind == "output"))}
        verdicts = []
        for _key, data, row in pieces:
            if row.kind != "output":
                continue
            original = originals.get(row.index)
            if original is None:
                verdicts.append({"index": row.index, "verdict": "missing", "max_difference": None})
                continue
            new_image = Image.open(io.BytesIO(data))
            old_image = Image.open(io.BytesIO(self._blobs.get(original.blob_key)))
            difference = max_difference(old_image, new_image)
            verdict = "identical" if difference == 0 else "close" if difference <= CLOSE_LEVELS else "different"
            verdicts.append({"index": row.index, "verdict": verdict, "max_difference": difference,
                             "original_asset_id": original.id})
        return {"outputs": verdicts, "all_identical": all(v["verdict"] == "identical" for v in verdicts)}

    # -- state helpers -----------------------------------------------------------------------

    def interrupt_for(self, jobs: list[Job]) -> InterruptCheck:
        """The check a running batch calls before every model block and after every step.

        It raises JobCanceled once every job of the batch was canceled or deleted, WorkerStopping when the
        worker is stopped, and JobTimedOut (code job_timeout) once the jobs have run past the time limit.
        Cancels made in this process arrive as in-memory flags; the rows are read at most once a
        CANCEL_POLL_EVERY_S for those made elsewhere (another server process, or a deleted row).
        """
        deadline = Deadline(self._job_timeout_s)
        ids = [job.id for job in jobs]
        last_poll = [time.monotonic()]

        def check() -> None:
            now = time.monotonic()
            if now - last_poll[0] >= CANCEL_POLL_EVERY_S:
                last_poll[0] = now
                self._poll_cancels(ids)
            if all(self._events.cancel_requested(job_id) for job_id in ids):
                raise JobCanceled()
            if self._stop.is_set():
                raise WorkerStopping()
            deadline()

        return check

    def check_work(self, requests: list[GenerationRequest], size: tuple[int, int]) -> None:
        """The work limit on the planned output size, for jobs submitted before their model was loaded."""
        if self._work_limit is not None:
            self._work_limit.check_generations(requests, size)

    def _poll_cancels(self, job_ids: list[str]) -> None:
        """A job whose row asks to cancel, or whose row is gone (its upload was deleted), is canceled."""
        with self._db.session() as session:
            for job_id in job_ids:
                current = session.get(Job, job_id)
                if current is None or current.cancel_requested:
                    self._events.request_cancel(job_id)

    def _cancel_requested(self, job: Job, *, from_db: bool = False) -> bool:
        if self._events.cancel_requested(job.id):
            return True
        if not from_db:
            return False
        current = self._reload(job.id)
        return current is None or current.cancel_requested

    def _reload(self, job_id: str) -> Job | None:
        with self._db.session() as session:
            return session.get(Job, job_id)

    def _write_progress(self, jobs: list[Job], done: int) -> None:
        with self._db.session() as session:
            for job in jobs:
                current = session.get(Job, job.id)
                if current is None:  # deleted with its upload: nobody wants its results any more
                    self._events.request_cancel(job.id)
                    continue
                current.progress_step = done
                if current.cancel_requested:
                    self._events.request_cancel(job.id)

    def _requeue(self, jobs: list[Job]) -> None:
        """Stopped by a shutdown, not by anything the jobs did: back to the queue, the attempt not counted."""
        with self._db.session(write_lock=True) as session:
            for job in jobs:
                current = session.get(Job, job.id)
                if current is not None and current.state == JobState.RUNNING.value:
                    current.state, current.progress_step = JobState.QUEUED.value, 0
                    current.attempts = max(0, current.attempts - 1)
        for job in jobs:
            self._events.publish(job.id, "state", state=JobState.QUEUED.value)

    def _finish(self, job: Job, state: JobState, **fields: Any) -> None:
        with self._db.session(write_lock=True) as session:
            current = session.get(Job, job.id)
            if current is None:  # deleted while it ran: there is no row to update; listeners hear it ended
                self._events.publish(job.id, "state", state=JobState.CANCELED.value)
                return
            check_transition(JobState(current.state), state)
            current.state = state.value
            current.finished_at = utcnow()
            for name, value in fields.items():
                setattr(current, name, value)
        self._events.publish(job.id, "state", state=state.value, **{k: v for k, v in fields.items() if k != "error_detail"})
        self._on_finished(self._reload(job.id) or job)

    def _fail(self, job: Job, exc: BaseException) -> None:
        if isinstance(exc, PhotogenError):
            code, message = exc.code, exc.message
        else:
            log.error("job %s failed", job.id, exc_info=exc)
            code, message = "generation_failed", f"generation failed ({type(exc).__name__})"
        detail = "".join(traceback.format_exception(exc))
        self._finish(job, JobState.FAILED, error_code=code, error_message=message, error_detail=detail)


def _asset(job: Job, kind: str, index: int, seed: int | None, key: str, data: bytes, image, record: dict) -> Asset:
    import hashlib
    import uuid

    return Asset(
        id=uuid.uuid4().hex, owner=job.owner, upload_id=job.upload_id, job_id=job.id, kind=kind, index=index,
        seed=seed, blob_key=key, sha256=hashlib.sha256(data).hexdigest(), width=image.width, height=image.height,
        record=record, size_bytes=len(data),
    )
