"""Durable webhooks: events wait in the `webhook_outbox` table until delivered, so a restart loses none.

A job's end writes one outbox row (its id derives from the event id and URL, so writing it twice is
harmless). One delivery thread (in the Celery mode: the outbox task `photogen beat` sends to the workers, which
calls `deliver_due`) sends the rows that are due, records every attempt in
`webhook_deliveries`, and reschedules a failed one after the next of the configured delays; the due
time is in the row, so after a restart the same schedule continues. A row is claimed by pushing its
due time one lease ahead before sending: a process that dies mid-send leaves it due again later,
and two processes never send the same row at once.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from photogen.net.webhooks import DeliveryAttempt, WebhookSender
from photogen.store.database import Database
from photogen.store.tables import Job, WebhookDelivery, WebhookOutbox, utcnow

log = logging.getLogger("photogen.webhooks")

CLAIM_LEASE_S = 60.0  # a claimed row is due again this long after a send that never finished
RECOVER_WINDOW = timedelta(days=1)  # jobs that ended this recently get their missing event written at start
TERMINAL_STATES = ("succeeded", "failed", "canceled")
BATCH = 20


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class WebhookOutboxService:
    """Writes events to the outbox and delivers the due ones on its own thread."""

    def __init__(self, db: Database, sender: WebhookSender, *, delays: Sequence[float], poll_s: float = 5.0) -> None:
        self._db = db
        self._sender = sender
        self._delays = tuple(delays)
        self._poll_s = poll_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- writing ---------------------------------------------------------------------------------

    def enqueue(self, url: str, event: dict[str, Any], *, event_id: str, job_id: str | None = None) -> str:
        """Keep `event` for delivery to `url`, due now; the same event and URL twice make one row."""
        row_id = hashlib.sha256(f"{event_id}\n{url}".encode()).hexdigest()[:32]
        with self._db.session(write_lock=True) as session:  # read-then-insert: take the write lock first
            if session.get(WebhookOutbox, row_id) is None:
                session.add(WebhookOutbox(id=row_id, job_id=job_id, url=url, event_id=event_id, body=event,
                                          state="pending", attempts=0, next_attempt_at=utcnow()))
        self._wake.set()
        return row_id

    def enqueue_job_end(self, job: Job) -> str | None:
        """The `job.<state>` event of a job that ended, kept for its callback URL (None without one).

        Event ids are "<job id>.<state>": stable across retries and restarts, and they name the job.
        """
        if not job.callback_url:
            return None
        event = {
            "type": f"job.{job.state}",
            "job": {"id": job.id, "state": job.state, "error_code": job.error_code, "error_message": job.error_message},
        }
        return self.enqueue(job.callback_url, event, event_id=f"{job.id}.{job.state}", job_id=job.id)

    def recover(self, *, now: datetime | None = None) -> int:
        """Write the events of jobs that ended but whose event was never kept (the process stopped between the
        job's end and its outbox row); only jobs that ended within RECOVER_WINDOW. Returns how many."""
        since = (now or utcnow()) - RECOVER_WINDOW
        with self._db.session() as session:
            kept = select(WebhookOutbox.job_id).where(WebhookOutbox.job_id.is_not(None))
            missing = list(session.scalars(
                select(Job).where(Job.callback_url.is_not(None), Job.state.in_(TERMINAL_STATES),
                                  Job.finished_at >= since, Job.id.not_in(kept))))
        for job in missing:
            self.enqueue_job_end(job)
        return len(missing)

    # -- delivering ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        try:
            self.recover()
        except Exception:  # noqa: BLE001 - the database may be away; deliveries of kept rows still start
            log.exception("could not look for webhook events lost at the last stop")
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="photogen-webhooks", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop taking rows and wait up to `timeout` seconds for a send under way (an unfinished one is retried)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def deliver_due(self) -> int:
        """Send every row that is due now, once each; returns how many were tried."""
        tried = 0
        while not self._stop.is_set():
            rows = self._claim()
            if not rows:
                return tried
            for row in rows:
                if self._stop.is_set():
                    break  # its lease makes it due again soon, here or after a restart
                self._send(row)
                tried += 1
        return tried

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
            except Exception:  # a failed round (database away) is retried on the next wake or poll
                log.exception("webhook delivery round failed")
            self._wake.wait(self._seconds_to_next_due())
            self._wake.clear()

    def _seconds_to_next_due(self) -> float:
        try:
            with self._db.session() as session:
                due = session.scalar(select(WebhookOutbox.next_attempt_at).where(WebhookOutbox.state == "pending")
                                     .order_by(WebhookOutbox.next_attempt_at).limit(1))
        except Exception:  # noqa: BLE001 - the database may be away; poll again later
            return self._poll_s
        if due is None:
            return self._poll_s
        return min(self._poll_s, max(0.0, (_aware(due) - utcnow()).total_seconds()))

    def _claim(self) -> list[WebhookOutbox]:
        now = utcnow()
        with self._db.session(write_lock=True) as session:
            query = (select(WebhookOutbox)
                     .where(WebhookOutbox.state == "pending", WebhookOutbox.next_attempt_at <= now)
                     .order_by(WebhookOutbox.next_attempt_at).limit(BATCH).with_for_update(skip_locked=True))
            rows = list(session.scalars(query))
            for row in rows:
                row.next_attempt_at = now + timedelta(seconds=CLAIM_LEASE_S)
        return rows

    def _send(self, row: WebhookOutbox) -> None:
        outcome = self._sender.attempt(row.url, row.body, row.event_id, row.attempts + 1)
        with self._db.session(write_lock=True) as session:
            current = session.get(WebhookOutbox, row.id)
            if current is None:
                return
            current.attempts = outcome.attempt
            current.last_error = outcome.error
            if outcome.delivered:
                current.state = "delivered"
            elif outcome.retryable and outcome.attempt <= len(self._delays):
                current.next_attempt_at = utcnow() + timedelta(seconds=self._delays[outcome.attempt - 1])
            else:
                current.state = "failed"
            if row.job_id is not None and session.get(Job, row.job_id) is not None:
                session.add(_delivery_row(row.job_id, outcome))  # a deleted job keeps no delivery log


def _delivery_row(job_id: str, outcome: DeliveryAttempt) -> WebhookDelivery:
    return WebhookDelivery(job_id=job_id, url=outcome.url, event_id=outcome.event_id, attempt=outcome.attempt,
                           status_code=outcome.status_code, error=outcome.error, duration_s=outcome.duration_s)
