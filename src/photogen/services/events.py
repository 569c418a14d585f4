"""Live job events: progress steps, state changes, cancel requests, behind one port.

The database stays the record; the events only make progress visible as it happens (for SSE) without a write
per denoising step, and carry cancel requests to the running job. Two implementations share the port:
`InProcessEvents` (one process: the embedded queue) and `RedisEvents` (photogen.services.redis_events: API
servers and workers in separate processes or hosts). Every state change passes through `publish`, so this is
also where the server logs one line per change (logger photogen.jobs, INFO: job id, state, kind, owner, error
code; never the prompt).

Each job's events carry `seq`, 1, 2, 3, ... in publish order: `since(job_id, seq)` is every kept event after
`seq`, which is how an SSE client that reconnects with Last-Event-ID misses none.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, Protocol, Self

from photogen.store.database import Database
from photogen.store.tables import Job

KEEP_FINISHED_S = 600.0
TERMINAL_STATES = ("succeeded", "failed", "canceled")
log = logging.getLogger("photogen.jobs")

JobLabels = Callable[[str], "tuple[str, str] | None"]
"""job id -> (kind, owner) for the log line, or None when unknown."""


def job_labels(db: Database) -> JobLabels:
    def labels(job_id: str) -> tuple[str, str] | None:
        with db.session() as session:
            job = session.get(Job, job_id)
            return None if job is None else (job.kind, job.owner)

    return labels


def labels_of(job: Any) -> tuple[str, str]:
    """A job's (kind, owner), from its row or record, for the log line of a state change without reading the
    row again."""
    return job.kind, job.owner


def is_terminal(kind: str, data: dict[str, Any]) -> bool:
    return kind == "state" and data.get("state") in TERMINAL_STATES


class EventWaiter:
    """One asyncio task's wake-up for one job: set from any thread when the job may have news."""

    def __init__(self, owner: EventWaiters, job_id: str) -> None:
        self._owner, self.job_id = owner, job_id
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()

    def wake(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._event.set)
        except RuntimeError:  # its loop has closed: nobody is waiting any more
            pass

    def clear(self) -> None:
        """Call before reading the news, so that anything published after the read wakes the next wait."""
        self._event.clear()

    async def wait(self, timeout: float) -> bool:
        """True when woken, False when the timeout passed first."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._owner.remove(self)


class EventWaiters:
    """The waiting SSE streams per job, woken from the thread that learns of an event."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_job: dict[str, set[EventWaiter]] = defaultdict(set)

    def add(self, job_id: str) -> EventWaiter:
        waiter = EventWaiter(self, job_id)
        with self._lock:
            self._by_job[job_id].add(waiter)
        return waiter

    def remove(self, waiter: EventWaiter) -> None:
        with self._lock:
            waiters = self._by_job.get(waiter.job_id)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._by_job[waiter.job_id]

    def wake(self, job_id: str) -> None:
        with self._lock:
            waiters = list(self._by_job.get(job_id, ()))
        for waiter in waiters:
            waiter.wake()

    def wake_all(self) -> None:
        with self._lock:
            waiters = [w for ws in self._by_job.values() for w in ws]
        for waiter in waiters:
            waiter.wake()

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._by_job)


class JobEvents(Protocol):
    """The events port: the runner publishes and checks cancels; the API streams, reads progress and cancels."""

    labels: JobLabels | None
    in_memory: bool  # `since` reads this process's memory only, so an event loop may call it directly

    def publish(self, job_id: str, kind: str, *, labels: tuple[str, str] | None = None, only_first: bool = False,
                **data: Any) -> None:
        """Append one event (kind "state" or "progress") to the job's events, with the next seq. `labels` are the
        job's (kind, owner) for the log line of a state change; without them they are read through `labels`.

        With `only_first`, only when nothing was published for the job yet: a submission announces "queued"
        after its row is committed, and by then a worker in another process may have claimed the job and
        published "running"; a "queued" after that would tell streams the wrong story."""

    def publish_progress(self, steps: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """A "progress" event for each (job id, data), as `publish` would; for a batch's jobs at once."""

    def since(self, job_id: str, seq: int) -> list[dict[str, Any]]:
        """The kept events after `seq`, in order (seq 0: all kept)."""

    def request_cancel(self, job_id: str) -> None:
        """Ask the running job to stop; seen by `cancel_requested` in every process within a step."""

    def cancel_requested(self, job_id: str) -> bool: ...

    def waiter(self, job_id: str) -> EventWaiter:
        """A wake-up for the calling asyncio task, set whenever the job may have news; use it as a context
        manager so that it is removed when the stream ends."""

    def close(self) -> None:
        """Release connections and threads."""


def log_state(labels: JobLabels | None, job_id: str, data: dict[str, Any],
              known: tuple[str, str] | None = None) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    try:
        kind, owner = known or (labels(job_id) if labels else None) or ("-", "-")
    except Exception:  # the log line must never break a state change
        log.debug("no labels for job %s", job_id, exc_info=True)
        kind, owner = "-", "-"
    error = f" error={data['error_code']}" if data.get("error_code") else ""
    log.info("job %s %s kind=%s owner=%s%s", job_id, data.get("state"), kind, owner, error)


class InProcessEvents:
    """The events of this process only: the embedded queue, where the API and the worker share memory."""

    in_memory = True

    def __init__(self, labels: JobLabels | None = None, *, keep_finished_s: float = KEEP_FINISHED_S) -> None:
        self.labels = labels
        self.keep_finished_s = keep_finished_s
        self._lock = threading.Lock()
        self._events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._finished_at: dict[str, float] = {}
        self._cancel: set[str] = set()
        self._waiters = EventWaiters()

    def publish(self, job_id: str, kind: str, *, labels: tuple[str, str] | None = None, only_first: bool = False,
                **data: Any) -> None:
        with self._lock:
            events = self._events[job_id]
            published = not (only_first and events)
            if published:
                seq = events[-1]["seq"] + 1 if events else 1
                events.append({"seq": seq, "event": kind, **data})
                if is_terminal(kind, data):
                    self._finished_at[job_id] = time.monotonic()
                    self._cancel.discard(job_id)
            self._forget_old()
        if published:
            self._waiters.wake(job_id)
        if kind == "state":
            log_state(self.labels, job_id, data, labels)

    def publish_progress(self, steps: Sequence[tuple[str, dict[str, Any]]]) -> None:
        for job_id, data in steps:
            self.publish(job_id, "progress", **data)

    def since(self, job_id: str, seq: int) -> list[dict[str, Any]]:
        with self._lock:
            self._forget_old()
            return [dict(e) for e in self._events.get(job_id, ()) if e["seq"] > seq]

    def request_cancel(self, job_id: str) -> None:
        with self._lock:
            self._cancel.add(job_id)

    def cancel_requested(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._cancel

    def waiter(self, job_id: str) -> EventWaiter:
        return self._waiters.add(job_id)

    def close(self) -> None:
        self._waiters.wake_all()

    def _forget_old(self) -> None:
        now = time.monotonic()
        for job_id in [j for j, t in self._finished_at.items() if now - t > self.keep_finished_s]:
            self._events.pop(job_id, None)
            self._finished_at.pop(job_id, None)
