"""Server-Sent Events: ids, Last-Event-ID resumption, keep-alive pings, and cancels across processes via Redis."""

from __future__ import annotations

import json
import threading

from fastapi.testclient import TestClient

from photogen.api.app import create_app
from tests.api.conftest import TERMINAL, build, make_settings, wait_for
from tests.api.test_api import upload


def read_events(client: TestClient, job_id: str, *, last_event_id: int | None = None, stop_after: int | None = None):
    """(id, event) pairs from the stream, until the job ends or `stop_after` events with an id were read."""
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    read, ident = [], None
    with client.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers) as stream:
        assert stream.status_code == 200
        for line in stream.iter_lines():
            if line.startswith("id: "):
                ident = int(line[4:])
            elif line.startswith("data: "):
                event = json.loads(line[6:])
                read.append((ident, event))
                assert ident is None or ident == event["seq"]
                ident = None
                if event["event"] == "state" and event["state"] in TERMINAL:
                    break
                if stop_after is not None and sum(1 for i, _ in read if i is not None) >= stop_after:
                    break
    return read


def _resume_misses_nothing(client: TestClient, astronaut_bytes: bytes) -> None:
    upload_id = upload(client, astronaut_bytes)["id"]
    body = {"prompt": "a", "upload_id": upload_id, "steps": 12, "image_strength": 0.0, "seed": 3}
    job = client.post("/v1/generations", json=body).json()
    first = read_events(client, job["id"], stop_after=3)
    first_ids = [i for i, _ in first if i is not None]
    assert first_ids == [1, 2, 3]
    rest = read_events(client, job["id"], last_event_id=first_ids[-1])
    assert all(i is not None for i, _ in rest)  # a resumed stream repeats no state it already had
    final = wait_for(client, job["id"])
    assert final["state"] == "succeeded"
    everything = [e["seq"] for e in client.app.state.container.events.since(job["id"], 0)]
    assert first_ids + [i for i, _ in rest] == everything == list(range(1, len(everything) + 1))
    assert rest[-1][1]["state"] == "succeeded"
    steps = [e["step"] for _, e in first + rest if e["event"] == "progress" and "phase" not in e]
    assert steps == list(range(1, 13))


def test_a_client_that_reconnects_with_last_event_id_gets_exactly_the_rest(api, astronaut_bytes):
    _resume_misses_nothing(api, astronaut_bytes)


def test_resuming_works_with_redis_events(server_settings, redis_url, astronaut_bytes):
    settings = server_settings.model_copy(update={"events_url": redis_url})
    with TestClient(create_app(settings)) as client:
        assert type(client.app.state.container.events).__name__ == "RedisEvents"
        _resume_misses_nothing(client, astronaut_bytes)


def test_an_idle_stream_sends_keep_alive_pings(server_settings, astronaut_bytes):
    settings = server_settings.model_copy(update={"sse_ping_s": 0.2})
    container = build(settings, worker=False)  # nothing runs the job: the stream stays idle
    with TestClient(create_app(settings, container=container)) as client:
        upload_id = upload(client, astronaut_bytes)["id"]
        job = client.post("/v1/generations", json={"prompt": "a", "upload_id": upload_id, "steps": 2}).json()
        lines = []
        with client.stream("GET", f"/v1/jobs/{job['id']}/events") as stream:
            for line in stream.iter_lines():
                lines.append(line)
                if line == ": ping":
                    break
        data = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
        assert data and data[0]["event"] == "state" and data[0]["state"] == "queued"
        assert lines[-1] == ": ping"


def test_a_cancel_sent_to_the_api_stops_a_job_running_in_a_worker_process(tmp_path, settings, tiny, redis_url,
                                                                          postgres_url, astronaut_bytes):
    # Two containers as two hosts have them: one database (PostgreSQL, as distributed mode needs), one Redis.
    shared = make_settings(tmp_path / "home", settings.models_dir, events_url=redis_url, database_url=postgres_url)
    api_side, worker_side = build(shared, worker=False), build(shared, worker=True)
    assert api_side.events is not worker_side.events
    worker_side.start()
    try:
        with TestClient(create_app(shared, container=api_side)) as client:
            upload_id = upload(client, astronaut_bytes)["id"]
            body = {"prompt": "a", "upload_id": upload_id, "steps": 50, "image_strength": 0.0, "seed": 1}
            job = client.post("/v1/generations", json=body).json()
            steps, states, canceled_at = [], [], None
            with client.stream("GET", f"/v1/jobs/{job['id']}/events") as stream:
                for line in stream.iter_lines():
                    if not line.startswith("data: "):
                        continue
                    event = json.loads(line[6:])
                    if event["event"] == "progress":
                        steps.append(event["step"])
                        if canceled_at is None:
                            assert client.post(f"/v1/jobs/{job['id']}/cancel").status_code == 202
                            canceled_at = max(e["step"] for e in api_side.events.since(job["id"], 0)
                                              if e["event"] == "progress")  # the worker's step once it was sent
                    elif event["event"] == "state":
                        states.append(event["state"])
                        if event["state"] in TERMINAL:
                            break
            final = client.get(f"/v1/jobs/{job['id']}").json()
    finally:
        worker_side.close()
    assert canceled_at is not None and canceled_at < 50
    assert states[-1] == "canceled" and "running" in states  # both published by the worker, seen through Redis
    assert final["state"] == "canceled" and final["assets"] == []
    # The worker checks for a cancel after every step: it finishes at most the step it was in.
    assert max(steps) <= canceled_at + 1 and final["progress"]["step"] <= canceled_at + 1
    print(f"cancel sent at step {canceled_at}; last step {max(steps)} of 50")


def test_a_resumed_stream_whose_events_are_gone_gets_the_state_from_the_database(server_settings, astronaut_bytes):
    with TestClient(create_app(server_settings)) as before:
        upload_id = upload(before, astronaut_bytes)["id"]
        job = before.post("/v1/generations", json={"prompt": "a", "upload_id": upload_id, "steps": 4,
                                                   "image_strength": 0.5}).json()
        last = wait_for(before, job["id"])
        seqs = [e["seq"] for e in before.app.state.container.events.since(job["id"], 0)]
    assert last["state"] == "succeeded" and len(seqs) > 3
    with TestClient(create_app(server_settings)) as restarted:  # a new process: its in-process events are empty
        resumed = read_events(restarted, job["id"], last_event_id=3)
    assert [(i, e["event"], e["state"]) for i, e in resumed] == [(None, "state", "succeeded")]


def test_after_an_api_restart_a_resumed_stream_misses_no_event_of_a_worker_job(tmp_path, settings, tiny, redis_url,
                                                                              postgres_url, astronaut_bytes):
    shared = make_settings(tmp_path / "home", settings.models_dir, events_url=redis_url, database_url=postgres_url)
    worker_side = build(shared, worker=True)
    worker_side.start()
    try:
        with TestClient(create_app(shared, container=build(shared, worker=False))) as before:
            upload_id = upload(before, astronaut_bytes)["id"]
            body = {"prompt": "a", "upload_id": upload_id, "steps": 12, "image_strength": 0.0, "seed": 5}
            job = before.post("/v1/generations", json=body).json()
            first = [i for i, _ in read_events(before, job["id"], stop_after=3)]
        with TestClient(create_app(shared, container=build(shared, worker=False))) as after:  # a new API process
            rest = read_events(after, job["id"], last_event_id=first[-1])
            everything = [e["seq"] for e in after.app.state.container.events.since(job["id"], 0)]
    finally:
        worker_side.close()
    assert first == [1, 2, 3] and rest[-1][1]["state"] == "succeeded"
    assert first + [i for i, _ in rest] == everything == list(range(1, len(everything) + 1))
    assert [e["step"] for _, e in rest if e["event"] == "progress"][-1] == 12


def test_a_stream_that_reads_an_ended_row_before_its_end_event_waits_for_the_event(server_settings, astronaut_bytes,
                                                                                  monkeypatch):
    """A worker commits the job's end, then publishes it: a stream that reads the row in between still sends the
    real end event (with its id and data); a row whose end event never comes is taken at its word a check later."""
    from photogen.api.routes import jobs as job_routes
    from photogen.store.tables import Job, utcnow

    monkeypatch.setattr(job_routes, "ROW_CHECK_S", 0.5)
    container = build(server_settings, worker=False)  # the test plays the worker in another process
    with TestClient(create_app(server_settings, container=container)) as client:
        upload_id = upload(client, astronaut_bytes)["id"]
        announced, lost = (client.post("/v1/generations", json={"prompt": "a", "upload_id": upload_id, "seed": n,
                                                                 "steps": 2}).json()["id"] for n in (1, 2))
        for job_id in (announced, lost):
            container.events.publish(job_id, "state", state="running")
            with container.db.session() as session:  # the worker's commit, its end event not yet published
                job = session.get(Job, job_id)
                job.state, job.finished_at = "succeeded", utcnow()
        found_nothing_after_running = threading.Event()
        read_since = container.events.since

        def watched_since(job_id, seq):
            news = read_since(job_id, seq)
            if job_id == announced and seq == 2 and not news:  # the row check's look for an end event
                found_nothing_after_running.set()
            return news

        monkeypatch.setattr(container.events, "since", watched_since)
        read = []
        with client.stream("GET", f"/v1/jobs/{announced}/events") as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    read.append(json.loads(line[6:]))
                    if read[-1]["state"] == "running":  # the stream reads the ended row, finds no end event, ...
                        assert found_nothing_after_running.wait(timeout=30)
                        # ... and only now does the worker publish it
                        container.events.publish(announced, "state", state="succeeded", assets=["a1"])
                    if read[-1]["state"] == "succeeded":
                        break
        assert [(e.get("seq"), e["state"]) for e in read] == [(1, "queued"), (2, "running"), (3, "succeeded")]
        assert read[-1]["assets"] == ["a1"]
        ended_by_row = read_events(client, lost)  # nothing more is published for it
        assert [(i, e["state"]) for i, e in ended_by_row] == [(1, "queued"), (2, "running"), (None, "succeeded")]
