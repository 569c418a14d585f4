"""The embedded worker: one thread that claims queued jobs in batches and hands them to the runner.

Only queue mechanics live here (the loop, waking, the batch window, claiming, recovery, stopping);
running a job, storing its results and ending it is photogen.runner's work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timezone

from sqlalchemy import select

from photogen.domain.jobs import JobState, check_transition
from photogen.engines.cache import ModelCache
from photogen.intake.decode import DEFAULT_MAX_DECODED_BYTES
from photogen.runner.context import RunContext, RunLimits
from photogen.runner.jobs import JobRunner
from photogen.services.events import JobEvents
from photogen.services.work import WorkLimit
from photogen.store.blobs import BlobStore
from photogen.store.database import Database
from photogen.store.tables import Job, utcnow

log = logging.getLogger("photogen.worker")


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
        self._events = events
        self._max_attempts = max_attempts
        self._max_batch_images = max_batch_images
        self._window = batch_window_s
        self._clock = clock
        self._sleep = sleep
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        limits = RunLimits(max_pixels=max_pixels, max_decoded_bytes=max_decoded_bytes, job_timeout_s=job_timeout_s,
                           work_limit=work_limit)
        context = RunContext(models, limits, db=db, blobs=blobs, events=events, signer=signer, clock=clock)
        self.runner = JobRunner(context, stopping=self._stop.is_set, on_finished=on_finished)

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
        self.runner.run(jobs)
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
