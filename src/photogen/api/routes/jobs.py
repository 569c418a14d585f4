"""Generations and jobs: submit, read, cancel, live events."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from photogen.api.deps import Caller, Credentials, IdempotencyKey, Owner, container_of
from photogen.api.errors import ERROR_RESPONSES
from photogen.api.schemas import GenerationIn, JobOut, SweepIn, VaryIn
from photogen.api.shaping import job_out, live_progress, submitted_job
from photogen.api.sources import Prepared, prepare_generation
from photogen.domain.records import JobRecord
from photogen.services.uploads import NotFound

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)
TERMINAL = ("succeeded", "failed", "canceled")


# -- generations and jobs ------------------------------------------------------------------------

def _prepared(request: Request, owner: str, body: GenerationIn, also_given: tuple[str, ...] = ()) -> Prepared:
    """The body's request for a catalogue model (a recipe filling what it left out, its photos drawn from an
    identity set or reference uploads), made to fit the model, and its source: refused before anything is stored."""
    return prepare_generation(request, owner, body, also_given=also_given)


@router.post("/generations", status_code=202, response_model=JobOut, summary="Start an image-to-image job")
async def create_generation(
    request: Request,
    caller: Caller,
    body: GenerationIn,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> JobOut:
    def submit() -> JobOut:
        owner = caller.owner()
        container = container_of(request)
        prepared = _prepared(request, owner, body)
        job, created = container.submissions.submit(
            owner, prepared.request, prepared.source, drawn=prepared.drawn, warnings=prepared.warnings,
            idempotency_key=idempotency_key, callback_url=body.callback_url,
            **({"delivery": body.delivery} if body.delivery else {}))
        return submitted_job(response, created, job, container.jobs, owner)

    return await run_in_threadpool(submit)


@router.post("/sweeps", status_code=202, response_model=JobOut,
             summary="Sweep one control (image strength, seed, guidance or steps) with everything else fixed")
def create_sweep(
    request: Request, owner: Owner, body: SweepIn, response: Response,
    idempotency_key: IdempotencyKey = None,
) -> JobOut:
    container = container_of(request)
    prepared = _prepared(request, owner, body, also_given=(body.sweep.field,))
    base, source = prepared.request, prepared.source
    values = [int(v) if body.sweep.field in ("seed", "steps", "angle") else v for v in body.sweep.values]
    job, created = container.submissions.submit_sweep(owner, base, source, body.sweep.field, values,
                                                      idempotency_key=idempotency_key, callback_url=body.callback_url)
    return submitted_job(response, created, job, container.jobs, owner)


@router.post("/jobs/{job_id}/vary", status_code=202, response_model=JobOut,
             summary="Change one thing: rerun a job with one field changed, same seed, linked to the original")
def vary_job(
    request: Request, owner: Owner, job_id: str, body: VaryIn, response: Response,
    idempotency_key: IdempotencyKey = None,
) -> JobOut:
    jobs = container_of(request).jobs
    job, created = jobs.vary(owner, job_id, body.changes, idempotency_key=idempotency_key,
                             **({"index": body.index} if body.index is not None else {}))
    return submitted_job(response, created, job, jobs, owner)


@router.post("/jobs/{job_id}/replay", status_code=202, response_model=JobOut,
             summary="Run a stored job again; its comparison says per output identical, close or different")
def replay_job(
    request: Request, owner: Owner, job_id: str, response: Response,
    idempotency_key: IdempotencyKey = None,
) -> JobOut:
    jobs = container_of(request).jobs
    job, created = jobs.replay(owner, job_id, idempotency_key=idempotency_key)
    return submitted_job(response, created, job, jobs, owner)


@router.get("/jobs", response_model=list[JobOut], summary="Your jobs, newest first")
def list_jobs(
    request: Request, owner: Owner,
    state: Annotated[str | None, Query(pattern="^(queued|running|succeeded|failed|canceled)$", description="Only jobs in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="How many.")] = 100,
    upload_id: Annotated[str | None, Query(max_length=64, description="Only jobs made from this upload.")] = None,
) -> list[JobOut]:
    jobs = container_of(request).jobs
    listed = jobs.list(owner, state, limit, upload_id=upload_id)
    assets = jobs.assets_of(listed)
    return [job_out(live_progress(request, j), assets[j.id]) for j in listed]


@router.get("/jobs/{job_id}", response_model=JobOut, summary="A job's state, progress and results")
async def get_job(
    request: Request, caller: Caller, job_id: str,
    sort: Annotated[str | None, Query(pattern="^(identity|structure)$", description="Order the outputs by this review score, best first.")] = None,
) -> JobOut:
    return await run_in_threadpool(_job, request, caller, job_id, sort)


def _job(request: Request, caller: Credentials, job_id: str, sort: str | None) -> JobOut:
    job, assets = container_of(request).jobs.with_assets(caller.owner(), job_id)
    if sort:
        from photogen.scoring.review import sort_by

        outputs = [a for a in assets if a.kind == "output"]
        order = sort_by([a.scores or {} for a in outputs], sort)
        assets = [a for a in assets if a.kind != "output"] + [outputs[i] for i in order]
    return job_out(live_progress(request, job), assets)


@router.post("/jobs/{job_id}/cancel", status_code=202, response_model=JobOut, summary="Cancel a queued or running job")
def cancel_job(request: Request, owner: Owner, job_id: str) -> JobOut:
    jobs = container_of(request).jobs
    return job_out(jobs.cancel(owner, job_id), [])


@router.get("/jobs/{job_id}/events", summary="Live progress as Server-Sent Events",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "state and progress events, in order, each with `id: <seq>`; "
                                            "`: ping` comments keep an idle stream open"}})
async def job_events(
    request: Request, caller: Caller, job_id: str,
    last_event_id: Annotated[str | None, Header(max_length=20, description="Resume after this event id: every later "
                                                "event is sent, none twice.")] = None,
) -> StreamingResponse:
    container = container_of(request)

    def read() -> tuple[str, JobRecord]:
        owner = caller.owner()
        return owner, container.jobs.get(owner, job_id)

    owner, job = await run_in_threadpool(read)  # 404 before the stream starts
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else None
    return StreamingResponse(_event_stream(request, owner, job_id, after, _state_of(job)),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


ROW_CHECK_S = 3.0  # the job's row is read this often, for work done by processes whose events we cannot see


async def _event_stream(request: Request, owner: str, job_id: str, after: int | None, row: dict[str, Any]):
    """The job's events as they are published, in any process the events port reaches; woken by each event.

    `after` (from Last-Event-ID) resumes a stream: the kept events after it are sent, none twice. Where events
    are missing (expired, or published where this port cannot see) the job's state comes from its row: `row`
    (read as the stream was asked for) first, then the row read again every ROW_CHECK_S.

    A worker commits a job's end, then publishes it: a row that has ended while the events the stream reads
    have not is taken at its word only if the end event is still missing at the next row check, so a stream
    that reads the row in between does not end with a state without id in place of the real last event.
    """
    container = container_of(request)
    events, ping_s = container.events, container.settings.sse_ping_s
    loop = asyncio.get_running_loop()
    seen = after or 0
    sent_state = after is not None  # a resumed client has its state already
    last_row_check, last_ping = float("-inf"), loop.time()
    end_unannounced = False  # the last row check found the job ended and no end event
    with events.waiter(job_id) as waiter:
        while True:
            waiter.clear()  # before reading: an event published from here on wakes the wait below
            news = await _since(events, job_id, seen)
            if news and news[0]["seq"] > seen + 1:  # the events before these are gone: the row says where it stands
                gap = await _row_state(container, owner, job_id)
                yield _sse(gap)
                if gap["state"] == "deleted":
                    return
                sent_state = True
            for event in news:
                seen, sent_state = event["seq"], True
                yield _sse(event)
                if event["event"] == "state" and event["state"] in TERMINAL:
                    return
            now = loop.time()
            if now - last_row_check >= ROW_CHECK_S:
                if last_row_check > float("-inf"):  # the first check uses the row read before the stream
                    row = await _row_state(container, owner, job_id)
                last_row_check = now
                ended = row["state"] in TERMINAL or row["state"] == "deleted"
                if ended and not await _since(events, job_id, seen):
                    if end_unannounced or not await run_in_threadpool(_events_visible, events, job_id, seen):
                        yield _sse(row)
                        return
                    end_unannounced = True
                if not sent_state:
                    sent_state = True
                    yield _sse(row)
            if await request.is_disconnected():
                return
            if now - last_ping >= ping_s:
                last_ping = now
                yield ": ping\n\n"
            await waiter.wait(max(0.0, min(last_ping + ping_s, last_row_check + ROW_CHECK_S) - loop.time()))


async def _since(events, job_id: str, seen: int) -> list[dict[str, Any]]:
    """The job's events after `seen`: read here when the port keeps them in this process's memory, else in a
    thread (a network read)."""
    if events.in_memory:
        return events.since(job_id, seen)
    return await run_in_threadpool(events.since, job_id, seen)


def _events_visible(events, job_id: str, seen: int) -> bool:
    """Whether the events port still has the last event this stream sent: when it has none (expired, kept in
    another process) no end event will come through it either."""
    return seen > 0 and bool(events.since(job_id, seen - 1))


async def _row_state(container, owner: str, job_id: str) -> dict[str, Any]:
    try:
        job = await run_in_threadpool(container.jobs.get, owner, job_id)
    except NotFound:
        return {"event": "state", "state": "deleted"}
    return _state_of(job)


def _state_of(job) -> dict[str, Any]:
    return {"event": "state", "state": job.state, "step": job.progress_step, "total": job.progress_total}


def _sse(event: dict[str, Any]) -> str:
    kind = event.get("event", "message")
    ident = f"id: {event['seq']}\n" if "seq" in event else ""
    return f"{ident}event: {kind}\ndata: {json.dumps(event)}\n\n"
