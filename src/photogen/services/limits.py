"""Per-owner limits, checked at submission before anything is stored: active jobs, uploads per
minute and stored bytes. Owners are what keys map to; without keys everyone is `local`, which has
the same limits, so a page in another tab cannot fill the disk or the queue.

The counts come from the database, so several API processes sharing it agree; the active-jobs count that
decides is taken under the owner's job lock in the transaction that inserts the job. Uploads per minute
also keep a per-process record of admitted uploads: deleting uploads does not reopen the window.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque
from datetime import datetime, timedelta, timezone

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from photogen.domain.errors import PhotogenError
from photogen.domain.jobs import JobState
from photogen.store.database import Database
from photogen.store.tables import Asset, Job, Upload

WINDOW_S = 60.0
ACTIVE_JOBS_RETRY_S = 10  # queued jobs usually start or end within seconds; poll again after this


# Asked on every submission: built once (building a select and its cache key costs more than running it).
_ACTIVE_JOBS = select(func.count()).select_from(Job).where(
    Job.owner == bindparam("owner"), Job.state.in_((JobState.QUEUED.value, JobState.RUNNING.value)))
_STORED_BYTES = select(
    select(func.coalesce(func.sum(Upload.size_bytes), 0)).where(Upload.owner == bindparam("owner")).scalar_subquery()
    + select(func.coalesce(func.sum(Asset.size_bytes), 0)).where(Asset.owner == bindparam("owner")).scalar_subquery())


class LimitExceeded(PhotogenError):
    """A per-owner limit refused the request; `retry_after_s` says when trying again may succeed."""

    code = "rate_limited"

    def __init__(self, message: str, *, hint: str, code: str, retry_after_s: int) -> None:
        super().__init__(message, hint=hint, code=code)
        self.retry_after_s = max(1, retry_after_s)


class OwnerLimits:
    def __init__(self, db: Database, *, max_active_jobs: int, uploads_per_minute: int, max_stored_bytes: int,
                 storage_retry_s: int = 3600) -> None:
        self._db = db
        self.max_active_jobs = max_active_jobs
        self.uploads_per_minute = uploads_per_minute
        self.max_stored_bytes = max_stored_bytes
        self._storage_retry_s = storage_retry_s
        self._admitted: dict[str, deque[float]] = defaultdict(deque)  # owner -> wall times of admitted uploads
        self._lock = threading.Lock()

    def admit_job(self, owner: str) -> None:
        """An early answer for one more job of `owner`, before anything is stored for the request: within the
        active-jobs limit, and the owner's storage within its quota (both counted in one read). The active-jobs
        answer that holds is given again where the job is inserted (check_job with its session)."""
        with self._db.session() as session:
            count = self.active_jobs(owner, session)
            stored = self._stored_bytes(session, owner)
        self._check_active(owner, count)
        self._check_stored(stored, 0)

    def check_job(self, owner: str, *, session: Session | None = None, storage: bool = False) -> None:
        """One more queued job for `owner` would stay within the active-jobs limit (and, with `storage`, the
        owner's storage within its quota: for a submission that stored nothing before its insert, so had no
        early answer from admit_job).

        Without `session` this is an early answer, before anything is stored for the request. The answer that
        holds is given inside the transaction that inserts the job, after it took the owner's job lock
        (JobService does both), so no other submission for the owner can insert between count and insert.
        """
        if session is None:
            with self._db.session() as own:
                self.check_job(owner, session=own, storage=storage)
            return
        self._check_active(owner, self.active_jobs(owner, session))
        if storage:
            self._check_stored(self._stored_bytes(session, owner), 0)

    def _check_active(self, owner: str, count: int) -> None:
        if count >= self.max_active_jobs:
            raise LimitExceeded(
                f"{count} jobs are already queued or running for this key (the limit is {self.max_active_jobs})",
                hint="wait for some to finish, or cancel some", code="rate_limited", retry_after_s=ACTIVE_JOBS_RETRY_S,
            )

    def active_jobs(self, owner: str, session: Session) -> int:
        """The owner's queued and running jobs, as `session` sees them."""
        return session.scalar(_ACTIVE_JOBS, {"owner": owner})

    def check_upload_rate(self, owner: str) -> None:
        """One more upload now would stay within the per-minute limit (checked before the body is read)."""
        with self._lock:
            stored = self._stored_in_window(owner)
            admitted = self._window(owner)
            times = stored if len(stored) >= len(admitted) else admitted
            if len(times) >= self.uploads_per_minute:
                oldest = times[len(times) - self.uploads_per_minute]
                raise LimitExceeded(
                    f"more than {self.uploads_per_minute} uploads in a minute for this key",
                    hint="upload fewer photos at once; Retry-After says when the next one is accepted",
                    code="rate_limited", retry_after_s=min(int(WINDOW_S), math.ceil(oldest + WINDOW_S - time.time())),
                )

    def admit_upload(self, owner: str, size_bytes: int) -> None:
        """An upload of `size_bytes` may be stored: within the rate and the owner's storage; counts it."""
        self.check_upload_rate(owner)
        self.check_storage(owner, size_bytes)
        with self._lock:
            self._window(owner).append(time.time())

    def check_storage(self, owner: str, incoming_bytes: int = 0) -> None:
        self._check_stored(self.stored_bytes(owner), incoming_bytes)

    def _check_stored(self, stored: int, incoming_bytes: int) -> None:
        if stored + incoming_bytes > self.max_stored_bytes:
            raise LimitExceeded(
                f"this key stores {stored} bytes; {incoming_bytes} more would pass its limit of {self.max_stored_bytes}",
                hint="delete uploads you no longer need (DELETE /v1/uploads/{id}) and try again",
                code="quota_exceeded", retry_after_s=self._storage_retry_s,
            )

    def stored_bytes(self, owner: str) -> int:
        with self._db.session() as session:
            return self._stored_bytes(session, owner)

    @staticmethod
    def _stored_bytes(session, owner: str) -> int:
        """The owner's uploads and assets in bytes, summed in one statement (one round trip, both by the owner
        index)."""
        return int(session.scalar(_STORED_BYTES, {"owner": owner}))

    def _window(self, owner: str) -> deque[float]:
        window, cutoff = self._admitted[owner], time.time() - WINDOW_S
        while window and window[0] <= cutoff:
            window.popleft()
        return window

    def _stored_in_window(self, owner: str) -> list[float]:
        since = datetime.now(timezone.utc) - timedelta(seconds=WINDOW_S)
        with self._db.session() as session:
            created = session.scalars(select(Upload.created_at).where(Upload.owner == owner, Upload.created_at > since)
                                      .order_by(Upload.created_at))
            return sorted(_epoch(t) for t in created)


def _epoch(moment: datetime) -> float:
    """Stored times are UTC; SQLite hands them back without a zone."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
