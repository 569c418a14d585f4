"""The embedded worker: one thread that claims queued jobs in batches and hands them to the runner, and one
that keeps its leases fresh.

Only the threads live here; claiming, leases and requeuing are the queue port's (photogen.queue.port), and
running a job, storing its results and ending it is photogen.runner's work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from photogen.engines.cache import ModelCache
from photogen.intake.decode import DEFAULT_MAX_DECODED_BYTES
from photogen.queue.port import DatabaseQueue, JobQueue, new_worker_id
from photogen.runner.context import RunContext, RunLimits
from photogen.runner.jobs import JobRunner
from photogen.runner.sinks import JobEnded
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
        on_finished: JobEnded | None = None,
        batch_window_s: float = 0.0,
        job_timeout_s: float | None = None,
        work_limit: WorkLimit | None = None,
        signer=None,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] | None = None,
        queue: JobQueue | None = None,
        worker_id: str | None = None,
        identity_threshold: float | None = None,
    ) -> None:
        self.queue: JobQueue = queue or DatabaseQueue(db, events, max_attempts=max_attempts, clock=clock, sleep=sleep)
        self.id = worker_id or new_worker_id()
        self._max_batch_images = max_batch_images
        self._window = batch_window_s
        self._models = models
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._beats_stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._beats: threading.Thread | None = None
        self.queue.subscribe(self.notify)
        limits = RunLimits(max_pixels=max_pixels, max_decoded_bytes=max_decoded_bytes, job_timeout_s=job_timeout_s,
                           work_limit=work_limit)
        if identity_threshold is not None:
            limits = replace(limits, identity_threshold=identity_threshold)
        context = RunContext(models, limits, db=db, blobs=blobs, events=events, signer=signer, clock=clock)
        self.runner = JobRunner(context, stopping=self._stop.is_set, on_finished=on_finished)

    # -- lifecycle ---------------------------------------------------------------------------

    def recover(self) -> dict[str, int]:
        """At start: jobs whose lease ran out go back to the queue (or fail once out of attempts). Jobs that
        another live worker holds under a fresh lease are left to it."""
        return self.queue.requeue_expired()

    def start(self) -> None:
        self.queue.register(self.id, kind="embedded")
        self.recover()
        self._beats = threading.Thread(target=self._heartbeat_loop, name="photogen-heartbeat", daemon=True)
        self._beats.start()
        self._thread = threading.Thread(target=self._loop, name="photogen-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.runner.close()
        self._beats_stop.set()
        if self._beats is not None:
            self._beats.join(timeout)
            self.queue.release(self.id)

    def heartbeat(self) -> int:
        """Renew this worker's leases and its row (with the models it has loaded)."""
        return self.queue.heartbeat(self.id, {"models_loaded": self._models.loaded()})

    def _heartbeat_loop(self) -> None:
        """Each interval: renew this worker's leases, then take back the jobs of workers that went silent."""
        while not self._beats_stop.wait(self.queue.heartbeat_s):
            try:
                self.heartbeat()
                self.queue.requeue_expired()
            except Exception:  # a missed beat is retried next interval; the lease outlasts a few
                log.exception("worker heartbeat failed")

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
        jobs = self.claim(window=True)
        if not jobs:
            return False
        self.runner.run(jobs)
        return True

    def wait_for_batch(self) -> None:
        """Hold the next batch until it is full or its window has passed (see DatabaseQueue.wait_for_batch)."""
        self.queue.wait_for_batch(self._max_batch_images, self._window, self._stop)

    def claim(self, *, window: bool = False) -> list[Job]:
        """The next compatible group, claimed under this worker's lease (after the batch window with `window`)."""
        if not window:
            return self.queue.claim(self.id, self._max_batch_images, 0.0, self._stop)
        return self.queue.claim(self.id, self._max_batch_images, self._window, self._stop, self.runner.prefetch)
