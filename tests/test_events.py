"""The events port's contract, held by both implementations: in-process, and Redis (two instances = two processes)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest

from photogen.services.events import InProcessEvents

DEADLINE_S = 30.0


@pytest.fixture(params=["in-process", "redis"])
def make_pair(request):
    """make_pair(**options) -> (a, b): two views of one event store; for Redis, two clients as two processes have."""
    made = []

    def make(**options):
        if request.param == "in-process":
            one = InProcessEvents(**options)
            made.append(one)
            return one, one
        from photogen.services.redis_events import RedisEvents

        url = request.getfixturevalue("redis_url")
        pair = RedisEvents(url, **options), RedisEvents(url, **options)
        made.extend(pair)
        return pair

    yield make
    for events in made:
        events.close()


def _job() -> str:
    return uuid.uuid4().hex


def _wait_until(condition, deadline_s: float = DEADLINE_S) -> bool:
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_since_returns_events_in_publish_order_with_their_data(make_pair):
    a, b = make_pair()
    job = _job()
    a.publish(job, "state", state="queued")
    for step in range(1, 6):
        a.publish(job, "progress", step=step, total=5, images=2)
    a.publish(job, "state", state="succeeded", assets=[], ratio=0.25)
    everything = b.since(job, 0)
    assert [e["seq"] for e in everything] == list(range(1, 8))
    assert [e.get("step") for e in everything if e["event"] == "progress"] == [1, 2, 3, 4, 5]
    assert everything[-1] == {"seq": 7, "event": "state", "state": "succeeded", "assets": [], "ratio": 0.25}
    assert [e["seq"] for e in b.since(job, 4)] == [5, 6, 7]
    assert b.since(job, 7) == [] and b.since(_job(), 0) == []


def test_sequence_numbers_are_one_series_whoever_publishes(make_pair):
    a, b = make_pair()
    job = _job()

    def publish_many(events, n):
        for step in range(n):
            events.publish(job, "progress", step=step, total=n, images=1)

    threads = [threading.Thread(target=publish_many, args=(events, 50)) for events in (a, b, a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seen_by_a, seen_by_b = a.since(job, 0), b.since(job, 0)
    assert [e["seq"] for e in seen_by_a] == list(range(1, 201))
    assert seen_by_a == seen_by_b


def test_a_cancel_is_seen_by_the_other_side_within_a_second(make_pair):
    a, b = make_pair()
    job, other = _job(), _job()
    a.publish(job, "state", state="running")
    assert not b.cancel_requested(job)
    a.request_cancel(job)
    assert _wait_until(lambda: b.cancel_requested(job), deadline_s=1.0)
    assert not b.cancel_requested(other)
    b.publish(job, "state", state="canceled")  # an ended job's request is spent
    assert not a.cancel_requested(job)


def test_finished_jobs_keep_their_events_for_a_while_then_forget_them(make_pair):
    a, b = make_pair(keep_finished_s=1.0)
    finished, running = _job(), _job()
    a.publish(running, "state", state="running")
    a.publish(finished, "state", state="running")
    a.publish(finished, "state", state="failed", error_code="job_timeout")
    assert [e["state"] for e in b.since(finished, 0)] == ["running", "failed"]
    assert _wait_until(lambda: b.since(finished, 0) == [] and a.since(finished, 0) == [])
    assert [e["state"] for e in b.since(running, 0)] == ["running"]  # a live job's events stay


def test_a_waiter_wakes_when_the_other_side_publishes(make_pair):
    a, b = make_pair()
    job, other = _job(), _job()

    async def scenario() -> tuple[bool, bool, float]:
        with b.waiter(job) as waiter:
            first = threading.Thread(target=a.publish, args=(job, "state"), kwargs={"state": "running"})
            first.start()
            assert await waiter.wait(DEADLINE_S)  # by now b listens (a listener wakes everyone once it subscribed)
            first.join()
            waiter.clear()
            return await second_round(waiter)

    async def second_round(waiter) -> tuple[bool, bool, float]:
        with b.waiter(other) as idle:
            started = time.monotonic()
            threading.Thread(target=a.publish, args=(job, "progress"), kwargs={"step": 1, "total": 2}).start()
            woke = await waiter.wait(DEADLINE_S)
            elapsed = time.monotonic() - started
            return woke, await idle.wait(0.2), elapsed

    woke, idle_woke, elapsed = asyncio.run(scenario())
    assert woke and elapsed < DEADLINE_S
    assert not idle_woke  # another job's waiter is not woken


def test_the_events_url_chooses_the_implementation_and_redis_loads_only_when_named(tmp_path, redis_url):
    import socket
    import subprocess
    import sys

    from photogen.config import Settings
    from photogen.container import events_for
    from photogen.domain.errors import PhotogenError

    with pytest.raises(PhotogenError) as refused:
        events_for(Settings(home=tmp_path, events_url="http://127.0.0.1:6379"))
    assert refused.value.code == "invalid_settings" and "redis://" in refused.value.hint
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with pytest.raises(PhotogenError) as unreachable:
        events_for(Settings(home=tmp_path, events_url=f"redis://127.0.0.1:{closed}/0"))
    assert "cannot reach Redis" in unreachable.value.message and unreachable.value.code == "invalid_settings"
    chosen = events_for(Settings(home=tmp_path, events_url=redis_url))
    try:
        assert type(chosen).__name__ == "RedisEvents"
    finally:
        chosen.close()
    script = ("import sys; from pathlib import Path; from photogen.config import Settings; "
              "from photogen.container import events_for; "
              f"events = events_for(Settings(home=Path({str(tmp_path)!r}))); "
              "print(type(events).__name__, 'redis' in sys.modules)")
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    assert shown.stdout.split() == ["InProcessEvents", "False"]


def test_redis_keeps_the_newest_events_of_a_long_job_and_serves_each_once(redis_url):
    from photogen.services.redis_events import RedisEvents

    events = RedisEvents(redis_url, max_events=4)
    try:
        job = _job()
        for step in range(1, 11):
            events.publish(job, "progress", step=step, total=10)
        assert [e["seq"] for e in events.since(job, 0)] == [7, 8, 9, 10]  # a client sees the gap before 7
        assert [e["seq"] for e in events.since(job, 2)] == [7, 8, 9, 10]
        assert [e["step"] for e in events.since(job, 8)] == [9, 10]
        assert events.since(job, 10) == []
    finally:
        events.close()


def test_a_redis_outage_degrades_live_events_without_failing_the_caller(tmp_path, caplog):
    from photogen.services.redis_events import RedisEvents
    from tests.redis_server import started_redis

    with started_redis(tmp_path) as url:
        events = RedisEvents(url)
        job = _job()
        events.publish(job, "state", state="running")
        events.request_cancel(job)
        assert events.cancel_requested(job) and len(events.since(job, 0)) == 1
    try:  # the server is gone: jobs go on, their rows stay the record
        events.publish(job, "progress", step=1, total=2)
        events.request_cancel(job)
        assert events.since(job, 0) == [] and not events.cancel_requested(job)
    finally:
        events.close()
    lost = [r.getMessage() for r in caplog.records if r.name == "photogen.events"]
    assert any("progress event not published" in m for m in lost) and any("cancel flag not read" in m for m in lost)


def test_a_worker_asks_redis_for_a_cancel_flag_once_and_hears_later_cancels(redis_url):
    """cancel_requested runs before every model block: past its first read, it answers from the cancels channel."""
    import redis

    from photogen.services.redis_events import RedisEvents

    api, worker = RedisEvents(redis_url), RedisEvents(redis_url)
    admin = redis.Redis.from_url(redis_url)

    def exists_calls() -> int:
        return int(admin.info("commandstats").get("cmdstat_exists", {}).get("calls", 0))

    try:
        job = _job()
        api.publish(job, "state", state="running")
        def answered_without_reading() -> bool:
            calls = exists_calls()
            assert not worker.cancel_requested(job)
            return exists_calls() == calls

        # the first questions read the flag, until the listener has subscribed to the channel
        assert _wait_until(answered_without_reading)
        before = exists_calls()
        assert not any(worker.cancel_requested(job) for _ in range(200))
        assert exists_calls() - before == 0
        api.request_cancel(job)  # another process
        assert _wait_until(lambda: worker.cancel_requested(job), deadline_s=1.0)
        assert exists_calls() - before == 0  # heard, not read
        api.publish(job, "state", state="canceled")  # the end is heard too: the flag is spent everywhere
        assert _wait_until(lambda: not worker.cancel_requested(job), deadline_s=1.0)
    finally:
        api.close()
        worker.close()
        admin.close()


def test_a_batch_publishes_its_progress_at_once_each_job_in_its_own_series(make_pair):
    a, b = make_pair()
    jobs = [_job() for _ in range(3)]
    a.publish(jobs[0], "state", state="running")
    for step in (1, 2):
        a.publish_progress([(job, {"step": step, "total": 2, "images": 1}) for job in jobs])
    assert [(e["seq"], e["event"], e.get("step")) for e in b.since(jobs[0], 0)] == [
        (1, "state", None), (2, "progress", 1), (3, "progress", 2)]
    assert [(e["seq"], e["step"], e["total"]) for e in b.since(jobs[2], 0)] == [(1, 1, 2), (2, 2, 2)]
