"""The worker side of the Celery mode: the tasks and the process state they run in.

A `photogen worker` process holds one `CeleryWorkerHost`: a worker-mode container (the same EmbeddedWorker
construction as `photogen serve` uses, whose claim loop thread is never started) and a heartbeat thread that
renews the leases of the jobs it runs and puts back the jobs of workers that went silent.

`photogen.run_queued` claims a compatible group from the database (within the batch window), runs it with the
JobRunner, and claims again until the queue is empty or its slice (PHOTOGEN_RUN_SLICE_S) is used up; then it
announces what is still queued in a new message and returns, so the periodic tasks that queued up behind it
(webhook outbox, retention purge) run in between. It carries no job ids: a redelivered message claims
what is queued then, which is nothing when its jobs are done or held by a live worker. Results are committed
once, fenced by the claim (photogen.runner.sinks).

The periodic tasks (`photogen beat` sends them) run here too, with Celery's automatic retries: the webhook outbox
(photogen.services.webhook_outbox; the first one in a process also writes the events a stopped process never
kept), the retention purge and the requeue of expired leases.

The heavy modules (the container, hence torch when a model loads) load in the worker process only.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import TYPE_CHECKING

from celery import Celery
from sqlalchemy import select

from photogen.config import Settings
from photogen.domain.jobs import JobState
from photogen.observability.metrics import RUN_METRICS, WorkerCollector, WorkerLabels
from photogen.queue.celery_app import DELIVER_WEBHOOKS, PURGE, REQUEUE_EXPIRED, RUN_QUEUED, celery_app
from photogen.store.tables import Job

if TYPE_CHECKING:
    from photogen.container import Container

log = logging.getLogger("photogen.worker")


class CeleryWorkerHost:
    """The container, the worker identity and the heartbeat of one worker process, built on first use."""

    def __init__(self, settings: Settings, *, gpu: str | None = None) -> None:
        self.settings, self.gpu = settings, gpu
        self._lock = threading.Lock()
        self._container: Container | None = None
        self._stop = threading.Event()
        self._beats: threading.Thread | None = None
        self._webhooks_recovered = False
        self.last_heartbeat: float | None = None  # time.time() of the last heartbeat that reached the database
        self.app: Celery | None = None  # set by worker_app: the heartbeat announces requeued jobs through it

    def container(self) -> Container:
        with self._lock:
            if self._container is None:
                from photogen.container import build_container
                from photogen.engines.families import import_libraries

                self._container = build_container(self.settings, worker=True)
                import_libraries()  # before any lease is held: see import_libraries
                worker = self._container.worker
                worker.queue.register(worker.id, kind="celery", gpu=self.gpu)
                worker.recover()
                self.last_heartbeat = time.time()  # registering wrote the row's first heartbeat
                self._beats = threading.Thread(target=self._heartbeat_loop, name="photogen-heartbeat", daemon=True)
                self._beats.start()
            return self._container

    def _heartbeat_loop(self) -> None:
        """Each interval: renew this worker's leases, then take back the jobs of workers that went silent."""
        worker = self._container.worker
        while not self._stop.wait(worker.queue.heartbeat_s):
            try:
                worker.heartbeat()
                self.last_heartbeat = time.time()
                requeue_and_announce(self._container, self.app)
            except Exception:  # a missed beat is retried next interval; the lease outlasts a few
                log.exception("worker heartbeat failed")

    def close(self) -> None:
        self._stop.set()
        if self._beats is not None:
            self._beats.join(timeout=30)
        if self._container is not None:
            self._container.worker.queue.release(self._container.worker.id)
            self._container.close()

    def run_queued(self) -> int:
        """Claim and run compatible groups until the queue is empty or the slice is used up (then announce the
        rest in a new message); returns how many jobs ran here."""
        worker = self.container().worker
        started = time.monotonic()
        ran = 0
        while True:
            jobs = worker.claim(window=True)
            if not jobs:
                return ran
            worker.runner.run(jobs)
            ran += len(jobs)
            if time.monotonic() - started >= self.settings.run_slice_s:
                if self.app is not None and jobs_waiting(self._container):
                    self.app.send_task(RUN_QUEUED)
                return ran

    def deliver_webhooks(self) -> int:
        """Send the outbox rows that are due; the first call in a process first writes the events of jobs that
        ended while no process could keep them. Returns how many rows were tried."""
        webhooks = self.container().webhooks
        if webhooks is None:
            return 0
        if not self._webhooks_recovered:
            webhooks.recover()
            self._webhooks_recovered = True
        return webhooks.deliver_due()

    def metrics(self) -> WorkerCollector:
        """What this worker's metrics port serves: its heartbeat row's labels, its last heartbeat, its GPU memory
        and the run metrics it observed."""
        return WorkerCollector(self.labels, RUN_METRICS, last_heartbeat=lambda: self.last_heartbeat)

    def labels(self) -> WorkerLabels | None:
        """The labels of this worker's heartbeat row, once it has registered (None before)."""
        container = self._container
        if container is None:
            return None
        return WorkerLabels(worker=container.worker.id, hostname=socket.gethostname()[:255], pid=os.getpid(),
                            kind="celery", gpu=self.gpu)


def requeue_and_announce(container: Container, app: Celery | None) -> dict[str, int]:
    """Put back the running jobs whose lease ran out; while anything is queued, tell the workers."""
    counts = container.queue.requeue_expired()
    if app is not None and jobs_waiting(container):
        app.send_task(RUN_QUEUED)
    return counts


def jobs_waiting(container: Container) -> bool:
    with container.db.session() as session:
        return session.scalar(select(Job.id).where(Job.state == JobState.QUEUED.value).limit(1)) is not None


def worker_app(settings: Settings, host: CeleryWorkerHost) -> Celery:
    """The Celery app with photogen's tasks, running in `host`."""
    app = celery_app(settings)
    host.app = app
    retrying = {"autoretry_for": (Exception,), "retry_backoff": True, "retry_kwargs": {"max_retries": 5}}

    @app.task(name=RUN_QUEUED, acks_late=True, reject_on_worker_lost=True)
    def run_queued() -> int:
        return host.run_queued()

    @app.task(name=REQUEUE_EXPIRED, **retrying)
    def requeue_expired() -> dict[str, int]:
        return requeue_and_announce(host.container(), app)

    @app.task(name=DELIVER_WEBHOOKS, **retrying)
    def deliver_webhooks() -> int:
        return host.deliver_webhooks()

    @app.task(name=PURGE, **retrying)
    def purge() -> dict:
        return dict(host.container().privacy.purge())

    return app
