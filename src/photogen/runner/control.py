"""How a server run is steered while it runs: progress out, cancels, deletions, shutdown and the time limit in."""

from __future__ import annotations

import time
from collections.abc import Callable

from photogen.engines.base import InterruptCheck
from photogen.engines.interrupt import Deadline
from photogen.services.events import JobEvents
from photogen.store.database import Database
from photogen.store.tables import Job

CANCEL_POLL_EVERY_S = 1.0  # how often a running job's row is read for a cancel made elsewhere, or its deletion


class JobCanceled(Exception):
    """Raised from the step callback or the interrupt check when every job of the running batch was canceled
    (or deleted)."""


class WorkerStopping(Exception):
    """Raised from the interrupt check when the worker is asked to stop: its jobs go back to the queue."""


class Progress:
    """A step callback over one or several passes: it publishes the count through the events (which every API
    process reads a running job's progress from; the rows get the final count with the job's end), and runs
    the jobs' interrupt check, which raises JobCanceled, WorkerStopping or JobTimedOut."""

    def __init__(self, control: JobControl, jobs: list[Job], total: int, interrupt: InterruptCheck,
                 *, images: int | None = None) -> None:
        self.control, self.jobs, self.total, self.interrupt = control, jobs, total, interrupt
        self.images = {job.id: images if images is not None else job.spec.num_images for job in jobs}

    def __call__(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = total
        self.control.events.publish_progress(
            [(job.id, {"step": done, "total": self.total, "images": self.images[job.id]}) for job in self.jobs])
        self.interrupt()


class JobControl:
    def __init__(self, db: Database, events: JobEvents, *, job_timeout_s: float | None,
                 stopping: Callable[[], bool]) -> None:
        self.db, self.events = db, events
        self.job_timeout_s = job_timeout_s
        self.stopping = stopping

    def interrupt_for(self, jobs: list[Job]) -> InterruptCheck:
        """The check a running batch calls before every model block and after every step.

        It raises JobCanceled once every job of the batch was canceled or deleted, WorkerStopping when the
        worker is stopped, and JobTimedOut (code job_timeout) once the jobs have run past the time limit.
        Cancels made in this process arrive as in-memory flags; the rows are read at most once a
        CANCEL_POLL_EVERY_S for those made elsewhere (another server process, or a deleted row).
        """
        deadline = Deadline(self.job_timeout_s)
        ids = [job.id for job in jobs]
        last_poll = [time.monotonic()]

        def check() -> None:
            now = time.monotonic()
            if now - last_poll[0] >= CANCEL_POLL_EVERY_S:
                last_poll[0] = now
                self.poll_cancels(ids)
            if all(self.events.cancel_requested(job_id) for job_id in ids):
                raise JobCanceled()
            if self.stopping():
                raise WorkerStopping()
            deadline()

        return check

    def progress_for(self, jobs: list[Job], total: int, interrupt: InterruptCheck, *,
                     images: int | None = None) -> Progress:
        return Progress(self, jobs, total, interrupt, images=images)

    def poll_cancels(self, job_ids: list[str]) -> None:
        """A job whose row asks to cancel, or whose row is gone (its upload was deleted), is canceled."""
        with self.db.session() as session:
            for job_id in job_ids:
                current = session.get(Job, job_id)
                if current is None or current.cancel_requested:
                    self.events.request_cancel(job_id)

    def cancel_requested(self, job: Job) -> bool:
        """As heard through the events (the row's own flag is read again when the results are committed)."""
        return self.events.cancel_requested(job.id)
