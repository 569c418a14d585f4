"""Live job events for this process: progress steps, state changes, cancel requests.

The database stays the record; this hub only makes progress visible as it happens (for SSE)
without a write per denoising step. Every state change passes through here, so this is also
where the server logs one line per change (logger photogen.jobs, INFO: job id, state, kind,
owner, error code; never the prompt).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from typing import Any, Callable

from photogen.store.database import Database
from photogen.store.tables import Job

KEEP_FINISHED_S = 600.0
log = logging.getLogger("photogen.jobs")

JobLabels = Callable[[str], "tuple[str, str] | None"]
"""job id -> (kind, owner) for the log line, or None when unknown."""


def job_labels(db: Database) -> JobLabels:
    def labels(job_id: str) -> tuple[str, str] | None:
        with db.session() as session:
            job = session.get(Job, job_id)
            return None if job is None else (job.kind, job.owner)

    return labels


class JobEvents:
    def __init__(self, labels: JobLabels | None = None) -> None:
        self.labels = labels
        self._lock = threading.Lock()
        self._events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._finished_at: dict[str, float] = {}
        self._cancel: set[str] = set()

    def publish(self, job_id: str, kind: str, **data: Any) -> None:
        with self._lock:
            events = self._events[job_id]
            events.append({"seq": len(events) + 1, "event": kind, **data})
            if kind == "state" and data.get("state") in ("succeeded", "failed", "canceled"):
                self._finished_at[job_id] = time.monotonic()
                self._cancel.discard(job_id)
            self._forget_old()
        if kind == "state":
            self._log_state(job_id, data)

    def _log_state(self, job_id: str, data: dict[str, Any]) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        try:
            kind, owner = (self.labels(job_id) if self.labels else None) or ("-", "-")
        except Exception:  # the log line must never break a state change
            log.debug("no labels for job %s", job_id, exc_info=True)
            kind, owner = "-", "-"
        error = f" error={data['error_code']}" if data.get("error_code") else ""
        log.info("job %s %s kind=%s owner=%s%s", job_id, data.get("state"), kind, owner, error)

    def since(self, job_id: str, seq: int) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._events.get(job_id, ())[seq:]]

    def request_cancel(self, job_id: str) -> None:
        with self._lock:
            self._cancel.add(job_id)

    def cancel_requested(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._cancel

    def _forget_old(self) -> None:
        now = time.monotonic()
        for job_id in [j for j, t in self._finished_at.items() if now - t > KEEP_FINISHED_S]:
            self._events.pop(job_id, None)
            self._finished_at.pop(job_id, None)
