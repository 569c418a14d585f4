"""Live job events for this process: progress steps, state changes, cancel requests.

The database stays the record; this hub only makes progress visible as it happens (for SSE)
without a write per denoising step.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

KEEP_FINISHED_S = 600.0


class JobEvents:
    def __init__(self) -> None:
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
