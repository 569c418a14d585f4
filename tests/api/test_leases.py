"""Workers hold jobs under leases: several workers on one database claim disjoint batches, a killed worker's
jobs come back once its lease runs out, a live worker's jobs are never taken by another one starting up, and
one owner's long queue does not starve another owner's job."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from photogen.api.app import create_app
from photogen.container import build_container
from photogen.domain.params import GenerationRequest
from photogen.queue.port import aware
from photogen.store.tables import Job, WorkerRecord, utcnow
from tests.api.conftest import WAIT_DEADLINE_S, make_settings

FAST = {"steps": 4, "image_strength": 0.5, "seed": 7}


def submit(container, astronaut_bytes, owner="local", n=1, upload=None, **values):
    upload = upload or container.uploads.create(owner, astronaut_bytes, "a.jpg", "image/jpeg")
    request = GenerationRequest(prompt="a", **{**FAST, **values, "num_images": n})
    return container.jobs.submit(owner, request, upload.id)[0]


def row(container, job_id):
    with container.db.session() as session:
        return session.get(Job, job_id)


def wait_until(condition, what):
    deadline = time.monotonic() + WAIT_DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {WAIT_DEADLINE_S:g} s")
        time.sleep(0.02)


def drain(container, limit=40):
    for _ in range(limit):
        if not container.worker.run_once():
            return
    raise AssertionError("queue did not drain")


@pytest.fixture
def pg_settings(tmp_path, settings, tiny, postgres_url):
    return lambda **values: make_settings(tmp_path / "home", settings.models_dir, database_url=postgres_url, **values)


def test_two_workers_on_one_postgresql_database_claim_disjoint_jobs(pg_settings, astronaut_bytes):
    first, second = build_container(pg_settings(), worker=True), build_container(pg_settings(), worker=True)
    assert first.db.engine.dialect.name == "postgresql"
    upload = first.uploads.create("local", astronaut_bytes, "a.jpg", "image/jpeg")
    submitted = {submit(first, astronaut_bytes, upload=upload, steps=4 + i % 3).id for i in range(12)}
    claims = {first.worker.id: [], second.worker.id: []}
    start = threading.Barrier(2)

    def claim_all(container):
        start.wait()
        while batch := container.worker.claim():
            claims[container.worker.id].extend(job.id for job in batch)

    threads = [threading.Thread(target=claim_all, args=(c,)) for c in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_DEADLINE_S)
    mine, theirs = set(claims[first.worker.id]), set(claims[second.worker.id])
    assert not mine & theirs
    assert mine | theirs == submitted
    assert len(claims[first.worker.id]) + len(claims[second.worker.id]) == len(submitted)  # none claimed twice
    for worker_id, job_ids in claims.items():
        for job_id in job_ids:
            job = row(first, job_id)
            assert (job.state, job.claimed_by, job.attempts) == ("running", worker_id, 1)
            assert job.lease_until is not None
    first.close()
    second.close()


def test_a_killed_workers_jobs_are_requeued_once_its_lease_runs_out(pg_settings, astronaut_bytes):
    short = {"lease_s": 0.5, "heartbeat_s": 0.1}
    dying = build_container(pg_settings(**short), worker=True)
    job = submit(dying, astronaut_bytes)
    assert [claimed.id for claimed in dying.worker.claim()] == [job.id]  # then killed: no heartbeat, no release
    assert (row(dying, job.id).state, row(dying, job.id).claimed_by) == ("running", dying.worker.id)
    dying.db.dispose()

    survivor = build_container(pg_settings(**short), worker=True)
    survivor.worker.start()  # takes the job back at start or, if the lease still runs then, with a heartbeat
    wait_until(lambda: row(survivor, job.id).state == "succeeded", "the job finishing on the surviving worker")
    assert (row(survivor, job.id).attempts, row(survivor, job.id).claimed_by) == (2, survivor.worker.id)
    survivor.close()


def test_a_running_worker_takes_back_jobs_whose_lease_ran_out(server_settings, astronaut_bytes):
    running = build_container(server_settings, worker=True)
    job = submit(running, astronaut_bytes)
    dead = build_container(server_settings, worker=True)
    assert dead.worker.claim()  # never heartbeats
    later = utcnow() + timedelta(seconds=server_settings.lease_s + 1)
    assert running.queue.requeue_expired(now=utcnow()) == {"requeued": 0, "failed": 0}
    assert running.queue.requeue_expired(now=later) == {"requeued": 1, "failed": 0}
    assert (row(running, job.id).state, row(running, job.id).claimed_by) == ("queued", None)
    dead.close()
    running.close()


def test_a_requeued_jobs_queued_event_comes_before_another_worker_can_claim_it(pg_settings, astronaut_bytes,
                                                                             monkeypatch):
    """Otherwise the new owner's "running" could reach the job's stream before "queued", which then says the
    job waits while it runs."""
    settings = pg_settings()
    requeuing, other, dead = (build_container(settings, worker=True) for _ in range(3))
    job = submit(requeuing, astronaut_bytes)
    assert dead.worker.claim()  # never heartbeats
    claimable_when_announced = []
    publish = requeuing.events.publish

    def publish_and_try_to_claim(job_id, kind, **data):
        if data.get("state") == "queued":
            claimable_when_announced.append([claimed.id for claimed in other.worker.claim()])
        publish(job_id, kind, **data)

    monkeypatch.setattr(requeuing.events, "publish", publish_and_try_to_claim)
    later = utcnow() + timedelta(seconds=settings.lease_s + 1)
    assert requeuing.queue.requeue_expired(now=later) == {"requeued": 1, "failed": 0}
    assert claimable_when_announced == [[]]
    assert [claimed.id for claimed in other.worker.claim()] == [job.id]  # once the requeue is committed
    for container in (requeuing, other, dead):
        container.close()


def test_a_worker_starting_up_leaves_a_live_workers_jobs_alone(server_settings, astronaut_bytes):
    live = build_container(server_settings, worker=True)
    job = submit(live, astronaut_bytes)
    assert [claimed.id for claimed in live.worker.claim()] == [job.id]
    before = row(live, job.id).lease_until

    starting = build_container(server_settings, worker=True)  # another container on the same database
    assert starting.worker.recover() == {"requeued": 0, "failed": 0}
    assert starting.worker.claim() == []
    assert (row(live, job.id).state, row(live, job.id).claimed_by) == ("running", live.worker.id)
    assert live.worker.heartbeat() == 1  # the live worker renews its lease
    assert aware(row(live, job.id).lease_until) >= aware(before)
    starting.close()
    live.close()


def test_a_job_claimed_before_leases_existed_is_requeued_at_start(server_settings, astronaut_bytes):
    old = build_container(server_settings, worker=True)
    job = submit(old, astronaut_bytes)
    assert old.worker.claim()
    with old.db.session() as session:  # what a previous release left: running, with no lease and no owner
        session.execute(update(Job).where(Job.id == job.id).values(lease_until=None, claimed_by=None))
    old.db.dispose()
    new = build_container(server_settings, worker=True)
    assert new.worker.recover() == {"requeued": 1, "failed": 0}
    assert row(new, job.id).state == "queued"
    new.close()


def test_the_heartbeat_keeps_a_lease_through_a_long_step(tmp_path, settings, tiny, astronaut_bytes):
    values = {"lease_s": 1.0, "heartbeat_s": 0.1}
    worker = build_container(make_settings(tmp_path / "home", settings.models_dir, **values), worker=True)
    other = build_container(make_settings(tmp_path / "home", settings.models_dir, **values), worker=True)
    seen: dict = {}
    unet = worker.models.get("tiny").pipeline.unet

    def during_step(_module, _inputs, _output):
        if seen:
            return
        first = row(worker, job.id)
        seen["first"] = aware(first.lease_until)
        # the step goes on until the first lease would have run out, and longer than a lease
        wait_until(lambda: utcnow() > seen["first"] + timedelta(seconds=0.5),
                   "the first lease running out")
        seen["other_requeued"] = other.queue.requeue_expired()
        seen["later"] = row(worker, job.id)

    handle = unet.mid_block.register_forward_hook(during_step)
    job = submit(worker, astronaut_bytes)
    try:
        worker.worker.start()
        wait_until(lambda: row(worker, job.id).state in ("succeeded", "failed", "canceled"), "the job ending")
    finally:
        handle.remove()
    assert seen["other_requeued"] == {"requeued": 0, "failed": 0}
    assert (seen["later"].state, seen["later"].claimed_by) == ("running", worker.worker.id)
    assert aware(seen["later"].lease_until) > seen["first"]
    assert (row(worker, job.id).state, row(worker, job.id).attempts) == ("succeeded", 1)
    other.close()
    worker.close()


@pytest.mark.parametrize("same_key", [False, True], ids=["other-batch-key", "same-batch-key"])
def test_one_owners_long_queue_does_not_starve_another_owner(tmp_path, settings, tiny, astronaut_bytes, same_key):
    container = build_container(make_settings(tmp_path / "home", settings.models_dir, max_active_jobs_per_owner=500,
                                              max_batch_images=8), worker=True)
    upload = container.uploads.create("alice", astronaut_bytes, "a.jpg", "image/jpeg")
    for _ in range(200):
        submit(container, astronaut_bytes, owner="alice", upload=upload)
    bobs = submit(container, astronaut_bytes, owner="bob", **({} if same_key else {"steps": 6}))
    claims = [container.worker.claim() for _ in range(3)]
    assert bobs.id in {job.id for job in claims[0] + claims[1]}
    for batch in claims:  # still batches: one batch key each, as full as the limit allows
        assert len({job.batch_key for job in batch}) == 1
        assert sum(job.spec.num_images for job in batch) <= 8
    alices = [batch for batch in claims if bobs.id not in {job.id for job in batch}]
    assert all(len(batch) == 8 for batch in alices)
    if same_key:  # bob's job leads its batch; the rest of it is alice's oldest jobs still queued
        with_bob = next(batch for batch in claims if bobs.id in {job.id for job in batch})
        assert with_bob[0].id == bobs.id and len(with_bob) == 8
    container.close()


def test_health_lists_each_worker_with_its_heartbeat(server_settings, astronaut_bytes):
    with TestClient(create_app(server_settings)) as client:
        served = client.app.state.container
        second = build_container(server_settings, worker=True)
        second.worker.start()
        second.queue.register("gone-host:1:dead", kind="celery", gpu="0")
        with second.db.session() as session:
            session.execute(update(WorkerRecord).where(WorkerRecord.id == "gone-host:1:dead")
                            .values(last_heartbeat_at=utcnow() - timedelta(minutes=5)))
        workers = {w["id"]: w for w in client.get("/v1/health").json()["workers"]}
        assert set(workers) == {served.worker.id, second.worker.id, "gone-host:1:dead"}
        assert workers[served.worker.id]["alive"] and workers[second.worker.id]["alive"]
        assert workers[second.worker.id]["kind"] == "embedded" and workers[second.worker.id]["last_heartbeat_at"]
        assert workers["gone-host:1:dead"]["alive"] is False and workers["gone-host:1:dead"]["gpu"] == "0"
        second.close()  # a clean stop leaves the listing
        assert {w["id"] for w in client.get("/v1/health").json()["workers"]} == {served.worker.id, "gone-host:1:dead"}


def test_health_shows_workers_and_models_only_to_key_holders_where_keys_are_required(api):
    key = api.app.state.container.keys.create("alice").key
    anonymous = api.get("/v1/health")
    assert anonymous.status_code == 200 and anonymous.json()["auth"] is True
    assert anonymous.json()["workers"] == [] and anonymous.json()["models_loaded"] == []
    detailed = api.get("/v1/health", headers={"Authorization": f"Bearer {key}"}).json()
    assert [w["kind"] for w in detailed["workers"]] == ["embedded"] and detailed["workers"][0]["alive"]
    assert api.get("/v1/health", headers={"Authorization": "Bearer pg_wrong"}).json()["workers"] == []


@pytest.mark.parametrize("stale_run_ends", ["first", "last"])
def test_a_worker_whose_lease_ran_out_stores_nothing_and_leaves_the_job_to_its_new_owner(
        tmp_path, settings, tiny, astronaut_bytes, stale_run_ends):
    """Worker a hangs past its lease and worker b claims the job; a's run ends before b's or after it. Either way a
    stores nothing and removes nothing of b's: each claim writes its blobs under a prefix of its own."""
    container = build_container(make_settings(tmp_path / "home", settings.models_dir), worker=True)  # not started
    try:
        job = submit(container, astronaut_bytes)
        [stale] = container.queue.claim("worker-a", 8)
        with container.db.session(write_lock=True) as session:  # worker a hangs past its lease
            session.execute(update(Job).values(lease_until=utcnow() - timedelta(seconds=1)))
        container.queue.requeue_expired()
        [fresh] = container.queue.claim("worker-b", 8)

        if stale_run_ends == "first":
            container.worker.runner.run([stale])  # worker a wakes up and finishes its run while b runs
            current = row(container, job.id)
            assert (current.state, current.claimed_by) == ("running", "worker-b")
            assert container.jobs.assets("local", job.id) == []
            assert not [key for key in container.blobs.keys() if key.startswith("assets/")]
            container.worker.runner.run([fresh])
            committed = None
        else:
            container.worker.runner.run([fresh])  # worker b finishes first, then a wakes up
            committed = {a.id: container.assets.content("local", a.id)[1] for a in container.jobs.assets("local", job.id)}
            container.worker.runner.run([stale])
        assert row(container, job.id).state == "succeeded"
        assets = container.jobs.assets("local", job.id)
        assert [a.kind for a in assets] == ["crop", "output"]
        if committed is not None:  # b's files are the ones it committed, byte for byte
            assert {a.id: container.assets.content("local", a.id)[1] for a in assets} == committed
        keys = [key for key in container.blobs.keys() if key.startswith("assets/")]
        assert len(keys) == 2 and all(f"/{job.id}/{fresh.attempts}_" in key for key in keys)
    finally:
        container.close()
