"""The Celery app of the distributed mode, as API nodes and workers both build it from Settings.

Celery only carries "work is available" (`photogen.run_queued`, a message without payload) and runs the
worker processes and the periodic work; the jobs table stays the source of truth for job state (see
photogen.queue.port). Messages are acknowledged after the task ran (`task_acks_late`) and put back when the
worker process dies (`task_reject_on_worker_lost`): a redelivered `run_queued` claims from the database, where
the jobs it would have run are finished or held under a live lease, so it finds nothing and returns.

Nothing here is particular to one broker: Redis and RabbitMQ (amqp://) take the same settings. What keeps a
RabbitMQ connection alive is the worker's pool (photogen.cli.worker runs a thread pool, so the consumer keeps
answering AMQP heartbeats while a job runs) and the bounded `run_queued` (PHOTOGEN_RUN_SLICE_S), which keeps each
message unacknowledged only for a slice; a connection lost anyway leaves the running group alone
(`worker_cancel_long_running_tasks_on_connection_loss` off): its message comes back and finds nothing to do.
Periodic messages expire after their own interval, so a deployment whose workers were all busy runs each
periodic task once when a worker frees up, not once per interval missed.

This module imports Celery but nothing heavy of ours: API nodes load it to send submissions.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import Celery

from photogen.config import Settings

RUN_QUEUED = "photogen.run_queued"
REQUEUE_EXPIRED = "photogen.requeue_expired"
DELIVER_WEBHOOKS = "photogen.deliver_webhooks"
PURGE = "photogen.purge"

log = logging.getLogger("photogen.celery")


def celery_app(settings: Settings) -> Celery:
    """The Celery app for these settings, with the periodic schedule that `photogen beat` runs."""
    app = Celery("photogen", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=settings.broker_queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        beat_schedule={
            "requeue-expired": _every(REQUEUE_EXPIRED, settings.heartbeat_s),
            "deliver-webhooks": _every(DELIVER_WEBHOOKS, settings.webhook_poll_s),
            "retention-purge": _every(PURGE, settings.purge_interval_s),
        },
    )
    return app


def _every(task: str, seconds: float) -> dict:
    """A beat entry that sends `task` every `seconds`; a message still waiting one interval later is dropped."""
    return {"task": task, "schedule": timedelta(seconds=seconds), "options": {"expires": seconds}}


class CelerySubmissions:
    """What an API node does on each submission in Celery mode: tell the workers that work is available."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def __call__(self) -> None:
        try:
            self.app.send_task(RUN_QUEUED)
        except Exception:  # the job is stored and stays queued; the next periodic round sends for it
            log.exception("could not tell the workers about a new job through the broker")
