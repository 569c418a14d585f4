"""Waiting for a job to end, for answers that carry its results (the synchronous compatibility paths).

The wait is woken by the job's live events (in whatever process the events port reaches) and reads the job's
row only when an event says the job ended, or every ROW_CHECK_S for work done where the events cannot be seen;
it never holds a thread while it waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from photogen.domain.records import JobRecord
from photogen.services.events import TERMINAL_STATES, JobEvents
from photogen.services.jobs import JobService

ROW_CHECK_S = 3.0


async def wait_until_ended(jobs: JobService, events: JobEvents, owner: str, job_id: str, timeout_s: float, *,
                           gone: Callable[[], Awaitable[bool]] | None = None) -> JobRecord:
    """The owner's job once it has ended, or as it stands when `timeout_s` has passed or `gone()` (the caller
    went away) says so. Raises NotFound for a job that is not the owner's, or that was deleted meanwhile."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(0.0, timeout_s)
    seen = 0
    with events.waiter(job_id) as waiter:
        while True:
            waiter.clear()  # before reading: an event published from here on wakes the wait below
            news = await asyncio.to_thread(events.since, job_id, seen)
            if news:
                seen = news[-1]["seq"]
            job = await asyncio.to_thread(jobs.get, owner, job_id)
            if job.state in TERMINAL_STATES or loop.time() >= deadline or (gone is not None and await gone()):
                return job
            while True:  # progress events wake the wait at every step; the row is read again only when it matters
                woken = await waiter.wait(min(ROW_CHECK_S, max(0.0, deadline - loop.time())))
                if not woken or loop.time() >= deadline:
                    break
                waiter.clear()
                news = await asyncio.to_thread(events.since, job_id, seen)
                if news:
                    seen = news[-1]["seq"]
                if any(event["event"] == "state" for event in news) or (gone is not None and await gone()):
                    break
