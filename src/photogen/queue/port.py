"""The queue port: how workers take jobs from the database, hold them under a lease, and give them back.

Every worker (the embedded thread, later a Celery task) claims through the same `DatabaseQueue`:

- `claim` takes a compatible group (one batch key) in one transaction, under row locks that other claimers
  skip (PostgreSQL `FOR UPDATE SKIP LOCKED`; SQLite takes its write lock at BEGIN), and marks each job
  `claimed_by` the worker with `lease_until` = now + the lease.
- `heartbeat` renews the leases of the worker's running jobs and its `workers` row; a worker calls it from a
  thread of its own, so leases stay fresh through a long denoising step.
- `requeue_expired` puts running jobs whose lease ran out back in the queue (or fails them once out of
  attempts). A worker calls it when it starts, instead of requeuing everything that was running, and then
  with each heartbeat: jobs that another live worker holds are left alone. Jobs claimed before leases
  existed have none and count as expired.

Fairness: the next batch starts from the owner with the fewest running jobs, then the one served least
recently, then the one whose oldest queued job is oldest; that job's batch key decides the batch, which is
filled with queued jobs of the same key from any owner, oldest first.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from photogen.domain.jobs import JobState, check_transition, parse_job_spec
from photogen.services.events import JobEvents, labels_of
from photogen.store.database import Database
from photogen.store.tables import Job, WorkerRecord, utcnow

FORGET_WORKERS_AFTER = timedelta(days=1)  # a worker silent this long leaves the health listing
BATCH_POLL_S = 0.005  # how often a batch window counts the compatible jobs (submissions elsewhere are not told)
_QUEUED_JOB = select(Job).where(Job.id == bindparam("job_id"), Job.state == JobState.QUEUED.value)


def new_worker_id() -> str:
    """host:pid:random, unique across restarts of the same process id."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class WorkerStatus:
    id: str
    kind: str
    hostname: str
    gpu: str | None
    last_heartbeat_at: datetime
    alive: bool


class JobQueue(Protocol):
    """What a worker needs from a queue, whatever carries the jobs."""

    heartbeat_s: float

    def notify(self) -> None: ...

    def subscribe(self, listener: Callable[[], None]) -> None: ...

    def register(self, worker_id: str, *, kind: str, gpu: str | None = None) -> None: ...

    def wait_for_batch(self, max_images: int, window_s: float, stop: threading.Event | None = None,
                       on_head: Callable[[Job], None] | None = None) -> bool: ...

    def claim(self, worker_id: str, max_images: int, window_s: float = 0.0,
              stop: threading.Event | None = None, on_head: Callable[[Job], None] | None = None) -> list[Job]: ...

    def heartbeat(self, worker_id: str, details: dict[str, Any] | None = None) -> int: ...

    def requeue_expired(self, now: datetime | None = None) -> dict[str, int]: ...

    def release(self, worker_id: str) -> None: ...

    def workers(self) -> list[WorkerStatus]: ...


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time stored here is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class DatabaseQueue:
    """The queue in the jobs table, shared by every worker on the same database."""

    def __init__(self, db: Database, events: JobEvents, *, max_attempts: int = 3, lease_s: float = 30.0,
                 heartbeat_s: float = 5.0, clock: Callable[[], datetime] = utcnow,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.db, self.events = db, events
        self.max_attempts = max_attempts
        self.lease = timedelta(seconds=lease_s)
        self.heartbeat_s = heartbeat_s
        self.clock = clock
        self.sleep = sleep
        self.listeners: list[Callable[[], None]] = []
        self._submitted = threading.Event()  # a submission in this process, for a batch window that waits

    # -- submissions -----------------------------------------------------------------------------

    def subscribe(self, listener: Callable[[], None]) -> None:
        self.listeners.append(listener)

    def notify(self) -> None:
        """A job was submitted: wake the workers listening in this process."""
        self._submitted.set()
        for listener in self.listeners:
            listener()

    # -- claiming --------------------------------------------------------------------------------

    def next_head(self, session: Session, *, lock: bool = False) -> Job | None:
        """The queued job the next batch starts from, by the fairness order (see the module docstring).

        With `lock`, the job is locked for this transaction, and owners whose head another claimer holds
        are passed over.
        """
        queued = Job.state == JobState.QUEUED.value
        oldest = dict(session.execute(select(Job.owner, func.min(Job.created_at)).where(queued)
                                      .group_by(Job.owner)).all())
        if not oldest:
            return None
        owners = list(oldest)
        if len(owners) > 1:  # one owner waiting: nobody to be fair to
            running = dict(session.execute(select(Job.owner, func.count()).where(
                Job.state == JobState.RUNNING.value, Job.owner.in_(owners)).group_by(Job.owner)).all())
            served = dict(session.execute(select(Job.owner, func.max(Job.started_at)).where(
                Job.started_at.is_not(None), Job.owner.in_(owners)).group_by(Job.owner)).all())
            never = datetime.min.replace(tzinfo=timezone.utc)
            owners.sort(key=lambda owner: (running.get(owner, 0),
                                           aware(served[owner]) if served.get(owner) else never,
                                           aware(oldest[owner])))
        for owner in owners:
            head = select(Job).where(queued, Job.owner == owner).order_by(Job.created_at, Job.id).limit(1)
            job = session.scalar(head.with_for_update(skip_locked=True) if lock else head)
            if job is not None:
                return job
        return None

    def wait_for_batch(self, max_images: int, window_s: float, stop: threading.Event | None = None,
                       on_head: Callable[[Job], None] | None = None) -> bool:
        """Dynamic batching: hold the next batch's first job until the batch is full or its window has passed.

        The window is counted from the job's submission, so no job waits longer than the window,
        and a lone job is not held at all once the window has gone by. The head is chosen once; then only the
        compatible jobs are counted, every BATCH_POLL_S or as soon as a submission in this process says so.
        `on_head` hears the head as soon as it is chosen, while it is still held (the worker makes it ready
        meanwhile). False when nothing was queued (with a window: without one, nothing is looked at).
        """
        return self._hold(max_images, window_s, stop, on_head) is not None

    def _hold(self, max_images: int, window_s: float, stop: threading.Event | None,
              on_head: Callable[[Job], None] | None) -> str | None:
        """wait_for_batch: the id of the head it held, "" without a window, None when nothing was queued."""
        if window_s <= 0:
            return ""
        self._submitted.clear()
        with self.db.session() as session:
            first = self.next_head(session)
        if first is None:
            return None
        batch_key, submitted_at = first.batch_key, aware(first.created_at)
        if on_head is not None and window_s - (self.clock() - submitted_at).total_seconds() > 0:
            on_head(first)
        while True:
            if self._queued_images(batch_key, max_images) >= max_images:
                return first.id
            left = window_s - (self.clock() - submitted_at).total_seconds()
            if left <= 0:
                return first.id
            pause = min(left, BATCH_POLL_S)
            if self.sleep is not None:
                self.sleep(pause)
            else:
                self._submitted.wait(pause)
                self._submitted.clear()
            if stop is not None and stop.is_set():
                return first.id

    def _queued_images(self, batch_key: str, enough: int) -> int:
        """Images the queued jobs of `batch_key` ask for, counted up to the first `enough` jobs."""
        with self.db.session() as session:
            waiting = session.scalars(select(Job.request).where(
                Job.state == JobState.QUEUED.value, Job.batch_key == batch_key)
                .order_by(Job.created_at, Job.id).limit(enough)).all()
        return sum(parse_job_spec(request).num_images for request in waiting)

    def claim(self, worker_id: str, max_images: int, window_s: float = 0.0,
              stop: threading.Event | None = None, on_head: Callable[[Job], None] | None = None) -> list[Job]:
        """A compatible group of queued jobs (one batch key, at most `max_images` images), now running
        under this worker's lease; [] when nothing is queued. The head the batch window held is the batch's first
        job unless another worker took it meanwhile."""
        held = self._hold(max_images, window_s, stop, on_head)
        if held is None:
            return []
        now = self.clock()
        with self.db.session(write_lock=True) as session:
            first = session.scalar(_QUEUED_JOB.with_for_update(skip_locked=True), {"job_id": held}) if held else None
            first = first or self.next_head(session, lock=True)
            if first is None:
                return []
            candidates = session.scalars(
                select(Job).where(Job.state == JobState.QUEUED.value, Job.batch_key == first.batch_key,
                                  Job.id != first.id)
                .order_by(Job.created_at, Job.id).limit(max_images).with_for_update(skip_locked=True))
            claimed, images = [first], first.spec.num_images
            for job in candidates:
                if images + job.spec.num_images > max_images:
                    break
                claimed.append(job)
                images += job.spec.num_images
            for job in claimed:
                check_transition(JobState(job.state), JobState.RUNNING)
                job.state = JobState.RUNNING.value
                job.attempts += 1
                job.started_at = now
                job.progress_step = 0
                job.claimed_by = worker_id
                job.lease_until = now + self.lease
        for job in claimed:
            self.events.publish(job.id, "state", state=job.state, labels=labels_of(job))
        return claimed

    # -- leases ----------------------------------------------------------------------------------

    def register(self, worker_id: str, *, kind: str, gpu: str | None = None) -> None:
        now = self.clock()
        with self.db.session(write_lock=True) as session:
            session.merge(WorkerRecord(id=worker_id, hostname=socket.gethostname()[:255], pid=os.getpid(),
                                       kind=kind, gpu=gpu, started_at=now, last_heartbeat_at=now))

    def heartbeat(self, worker_id: str, details: dict[str, Any] | None = None) -> int:
        """Renew the leases of the worker's running jobs and its row; returns how many leases were renewed."""
        now = self.clock()
        with self.db.session(write_lock=True) as session:
            renewed = session.execute(
                update(Job).where(Job.claimed_by == worker_id, Job.state == JobState.RUNNING.value)
                .values(lease_until=now + self.lease)).rowcount
            values: dict[str, Any] = {"last_heartbeat_at": now}
            if details is not None:
                values["details"] = details
            session.execute(update(WorkerRecord).where(WorkerRecord.id == worker_id).values(**values))
        return renewed

    def requeue_expired(self, now: datetime | None = None) -> dict[str, int]:
        """Running jobs whose lease ran out (or that never had one) back to the queue, or failed once out of
        attempts, or canceled when a cancel waits for them."""
        now = now or self.clock()
        running = Job.state == JobState.RUNNING.value
        expired = (Job.lease_until.is_(None)) | (Job.lease_until < now)
        with self.db.session() as session:  # most rounds find none: no write lock for those
            if session.scalar(select(func.count()).select_from(Job).where(running, expired)) == 0:
                return {"requeued": 0, "failed": 0}
        with self.db.session(write_lock=True) as session:
            jobs = list(session.scalars(select(Job).where(running, expired).with_for_update(skip_locked=True)))
            counts = self._put_back(jobs)
            session.execute(delete(WorkerRecord).where(WorkerRecord.last_heartbeat_at < now - FORGET_WORKERS_AFTER))
            # While the rows are still locked and running: a worker that claims a job once this commits publishes
            # its "running" after this "queued", never before it.
            requeued = [job for job in jobs if job.state == JobState.QUEUED.value]
            self._publish(requeued)
        self._publish([job for job in jobs if job.state != JobState.QUEUED.value])
        if requeued:
            self.notify()
        return counts

    def release(self, worker_id: str) -> None:
        """A worker that stops cleanly leaves the listing. Jobs it still holds keep their lease: the runner
        puts back what it stops, and whatever it could not stop is requeued once the lease runs out."""
        with self.db.session(write_lock=True) as session:
            session.execute(delete(WorkerRecord).where(WorkerRecord.id == worker_id))

    def _put_back(self, jobs: list[Job]) -> dict[str, int]:
        requeued = failed = 0
        for job in jobs:
            job.claimed_by, job.lease_until = None, None
            if job.cancel_requested:
                job.state, job.finished_at = JobState.CANCELED.value, utcnow()
            elif job.attempts >= self.max_attempts:
                job.state, job.finished_at = JobState.FAILED.value, utcnow()
                job.error_code = "worker_stopped"
                job.error_message = f"the worker stopped during each of {job.attempts} attempts"
                failed += 1
            else:
                job.state = JobState.QUEUED.value
                job.progress_step = 0
                requeued += 1
        return {"requeued": requeued, "failed": failed}

    def _publish(self, jobs: list[Job]) -> None:
        for job in jobs:
            self.events.publish(job.id, "state", state=job.state, labels=labels_of(job))

    # -- health ----------------------------------------------------------------------------------

    def workers(self) -> list[WorkerStatus]:
        """Every worker seen lately, alive while its heartbeat is within three intervals."""
        now = self.clock()
        with self.db.session() as session:
            rows = session.scalars(select(WorkerRecord).order_by(WorkerRecord.started_at, WorkerRecord.id)).all()
        alive_after = now - timedelta(seconds=3 * self.heartbeat_s)
        return [WorkerStatus(id=row.id, kind=row.kind, hostname=row.hostname, gpu=row.gpu,
                             last_heartbeat_at=aware(row.last_heartbeat_at),
                             alive=aware(row.last_heartbeat_at) >= alive_after) for row in rows]
