"""The Celery app of the distributed mode, as API nodes and workers both build it from Settings.

Celery only carries "work is available" (`photogen.run_queued`, a message without payload) and runs the
worker processes and the periodic work; the jobs table stays the source of truth for job state (see
photogen.queue.port). Messages are acknowledged after the task ran (`task_acks_late`) and put back when the
worker process dies (`task_reject_on_worker_lost`): a redelivered `run_queued` claims from the database, where
the jobs it would have run are finished or held under a live lease, so it finds nothing and returns.

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
WEBHOOK_POLL_S = 5.0

log = logging.getLogger("photogen.celery")


def celery_app(settings: Settings) -> Celery:
    """The Celery app for these settings, with the periodic schedule that `photogen beat` runs."""
    app = Celery("photogen", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        beat_schedule={
            "requeue-expired": {"task": REQUEUE_EXPIRED, "schedule": timedelta(seconds=settings.heartbeat_s)},
            "deliver-webhooks": {"task": DELIVER_WEBHOOKS, "schedule": timedelta(seconds=WEBHOOK_POLL_S)},
            "retention-purge": {"task": PURGE, "schedule": timedelta(seconds=settings.purge_interval_s)},
        },
    )
    return app


class CelerySubmissions:
    """What an API node does on each submission in Celery mode: tell the workers that work is available."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def __call__(self) -> None:
        try:
            self.app.send_task(RUN_QUEUED)
        except Exception:  # the job is stored and stays queued; the next periodic round sends for it
            log.exception("could not tell the workers about a new job through the broker")
