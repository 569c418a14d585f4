"""Jobs survive restarts; PostgreSQL works as well as SQLite; blobs and rows never part ways."""

import hashlib
from datetime import timedelta

from sqlalchemy import func, select

from photogen.container import build_container
from photogen.domain.params import GenerationRequest
from photogen.store.tables import Asset, Job, utcnow
from tests.api.conftest import make_settings

FAST = {"steps": 4, "image_strength": 0.5, "seed": 99}


def submit(container, astronaut_bytes, n=1, **values):
    upload = container.uploads.create("local", astronaut_bytes, "a.jpg", "image/jpeg")
    request = GenerationRequest(prompt="a", **{**FAST, **values, "num_images": n})
    return container.jobs.submit("local", request, upload.id)[0]


def drain(container, limit=20):
    for _ in range(limit):
        if not container.worker.run_once():
            return
    raise AssertionError("queue did not drain")


def states(container):
    with container.db.session() as session:
        return {job.id: (job.state, job.attempts) for job in session.scalars(select(Job))}


def past_every_lease(container):
    """A moment after every lease taken so far has run out: what a later start sees of a dead worker's jobs."""
    return utcnow() + timedelta(seconds=container.settings.lease_s + 1)


def outputs_per_job(container):
    with container.db.session() as session:
        rows = session.execute(select(Asset.job_id, func.count()).where(Asset.kind == "output").group_by(Asset.job_id))
        return dict(rows.all())


def test_restart_with_queued_and_running_jobs_loses_none_and_runs_none_twice(server_settings, astronaut_bytes):
    first = build_container(server_settings, worker=True)
    queued = submit(first, astronaut_bytes, n=2)
    interrupted = submit(first, astronaut_bytes, aspect_ratio="1:1")
    claimed = first.worker.claim()  # a worker took a job, then the process died before finishing
    assert [job.id for job in claimed] == [queued.id]
    first.db.dispose()

    second = build_container(server_settings, worker=True)
    assert second.worker.recover() == {"requeued": 0, "failed": 0}  # the dead worker's lease still runs
    assert second.queue.requeue_expired(now=past_every_lease(second)) == {"requeued": 1, "failed": 0}
    drain(second)
    final = states(second)
    assert final[queued.id] == ("succeeded", 2)  # started twice, finished once
    assert final[interrupted.id] == ("succeeded", 1)
    assert outputs_per_job(second) == {queued.id: 2, interrupted.id: 1}
    second.close()


def test_a_job_that_keeps_dying_fails_after_its_attempts(server_settings, astronaut_bytes):
    container = build_container(server_settings, worker=True)
    job = submit(container, astronaut_bytes)
    for _ in range(server_settings.job_max_attempts):
        assert container.worker.claim()
        container.queue.requeue_expired(now=past_every_lease(container))
    assert states(container)[job.id] == ("failed", 3)
    with container.db.session() as session:
        assert session.get(Job, job.id).error_code == "worker_stopped"
    container.close()


def test_compatible_jobs_are_claimed_as_one_batch(server_settings, astronaut_bytes):
    container = build_container(server_settings, worker=True)
    a, b = submit(container, astronaut_bytes, n=2), submit(container, astronaut_bytes, n=3, guidance=3.0)
    other = submit(container, astronaut_bytes, steps=6)
    claimed = container.worker.claim()
    assert {job.id for job in claimed} == {a.id, b.id}
    assert [job.id for job in container.worker.claim()] == [other.id]
    container.close()


def test_a_failed_row_write_leaves_no_blob(server_settings, astronaut_bytes, monkeypatch):
    container = build_container(server_settings, worker=True)
    job = submit(container, astronaut_bytes)
    from photogen.store import tables

    def broken_add_all(self, rows):
        raise RuntimeError("disk full")

    monkeypatch.setattr("sqlalchemy.orm.Session.add_all", broken_add_all)
    drain(container)
    assert states(container)[job.id][0] == "failed"
    assert not [key for key in container.blobs.keys() if key.startswith("assets/")]
    assert tables  # imported for the patch target's module to be loaded
    container.close()


def test_postgresql_runs_the_same_workflow(tmp_path, settings, tiny, astronaut_bytes, postgres_url):
    server_settings = make_settings(tmp_path / "home", settings.models_dir, database_url=postgres_url)
    container = build_container(server_settings, worker=True)
    assert container.db.engine.dialect.name == "postgresql"
    build_container(server_settings, worker=False).db.dispose()  # migrating twice is a no-op
    a, b = submit(container, astronaut_bytes, n=2), submit(container, astronaut_bytes)
    assert {job.id for job in container.worker.claim()} == {a.id, b.id}
    container.queue.requeue_expired(now=past_every_lease(container))
    drain(container)
    assert states(container) == {a.id: ("succeeded", 2), b.id: ("succeeded", 2)}
    deleted = container.uploads.delete("local", a.upload_id)
    assert deleted == {"jobs": 1, "assets": 3, "blobs": 3}  # the shared original stays for b's upload
    assert outputs_per_job(container) == {b.id: 1}
    container.close()


class FakeClock:
    """Time that moves only when the worker sleeps; `on_sleep` runs inside the first sleep."""

    def __init__(self, on_sleep=None):
        from datetime import datetime, timezone

        self.now = datetime.now(timezone.utc)
        self.slept = 0.0
        self.on_sleep = on_sleep

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        from datetime import timedelta

        if self.on_sleep is not None:
            self.on_sleep()
            self.on_sleep = None
        self.slept += seconds
        self.now += timedelta(seconds=seconds)


def windowed_worker(container, clock, window_s):
    from photogen.queue.embedded import EmbeddedWorker

    return EmbeddedWorker(container.db, container.blobs, container.models, container.events,
                          batch_window_s=window_s, clock=clock, sleep=clock.sleep, max_batch_images=8)


def test_a_job_arriving_within_the_window_joins_the_batch(server_settings, astronaut_bytes):
    container = build_container(server_settings, worker=False)
    first = submit(container, astronaut_bytes)
    late = []
    clock = FakeClock(on_sleep=lambda: late.append(submit(container, astronaut_bytes)))
    worker = windowed_worker(container, clock, window_s=0.5)
    worker.wait_for_batch()
    assert {job.id for job in worker.claim()} == {first.id, late[0].id}
    container.close()


def test_a_lone_job_is_not_held_past_the_window(server_settings, astronaut_bytes):
    container = build_container(server_settings, worker=False)
    job = submit(container, astronaut_bytes)
    clock = FakeClock()
    worker = windowed_worker(container, clock, window_s=0.5)
    worker.wait_for_batch()
    assert clock.slept <= 0.5 + 1e-9
    assert [claimed.id for claimed in worker.claim()] == [job.id]
    clock.slept = 0.0
    submit(container, astronaut_bytes)  # submitted "now": the window from its own submission
    clock.now = clock.now.replace(year=clock.now.year + 1)  # long past every window
    worker.wait_for_batch()
    assert clock.slept == 0.0
    container.close()


def test_a_full_batch_does_not_wait(server_settings, astronaut_bytes):
    container = build_container(server_settings, worker=False)
    submit(container, astronaut_bytes, n=8)
    clock = FakeClock()
    windowed_worker(container, clock, window_s=5.0).wait_for_batch()
    assert clock.slept == 0.0
    container.close()


def test_processes_that_start_together_on_a_fresh_postgresql_database_all_migrate_it(postgres_url):
    """API nodes and workers started at once (a compose file, a deploy) each migrate at start: one of them
    creates the schema, the others wait for it and find nothing to do."""
    from concurrent.futures import ThreadPoolExecutor

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from photogen.store.database import Database, migrate
    from photogen.store.tables import Base

    databases = [Database(postgres_url) for _ in range(4)]  # a connection each, as separate processes have
    try:
        with ThreadPoolExecutor(max_workers=len(databases)) as pool:
            list(pool.map(lambda db: migrate(db.engine), databases))  # re-raises the first failure
        with databases[0].engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        for db in databases:
            db.dispose()


def test_the_window_makes_the_lone_job_ready_while_it_is_held(server_settings, astronaut_bytes):
    """The head of the next batch is cropped, its face found and its crop's PNG encoded during the batch window,
    not after it; the run uses that work, and gives the same pixels, scores and crop file as a job made ready
    after its claim. The next job on the same photo and plan reuses the decoded photo and the ready crop."""
    container = build_container(server_settings, worker=False)
    held, plain = submit(container, astronaut_bytes), submit(container, astronaut_bytes)
    clock = FakeClock()
    worker = windowed_worker(container, clock, window_s=0.5)
    heads, decodes = [], []
    prefetch, decode = worker.runner.prefetch, worker.runner.ctx.decode
    worker.runner.prefetch = lambda job: (heads.append(job.id), prefetch(job))
    worker.runner.ctx.decode = lambda data: (decodes.append(len(data)), decode(data))[1]
    claimed = worker.claim(window=True)
    assert heads == [held.id] and [job.id for job in claimed] == [held.id, plain.id]
    assert list(worker.runner._prefetched) == [held.id]
    ready = worker.runner._prefetched[held.id].result()
    assert ready.crop_png is not None and ready.source_face is not None and ready.structure is not None
    worker.runner.run(claimed)
    assert decodes == [len(astronaut_bytes)]  # the second job on the photo decoded nothing
    assert worker.runner._prefetched == {}
    with container.db.session() as session:
        outputs = {row.job_id: row for row in session.scalars(select(Asset).where(Asset.kind == "output"))}
        crops = {row.job_id: row for row in session.scalars(select(Asset).where(Asset.kind == "crop"))}
    assert container.blobs.get(crops[held.id].blob_key) == ready.crop_png  # the bytes encoded in the window
    assert crops[held.id].sha256 == crops[plain.id].sha256 == hashlib.sha256(ready.crop_png).hexdigest()
    assert outputs[held.id].record["pixel_sha256"] == outputs[plain.id].record["pixel_sha256"]
    assert outputs[held.id].scores == outputs[plain.id].scores
    assert outputs[held.id].scores["identity_note"] != "no face in the source"  # the crop's face was found ahead
    worker.runner.close()
    container.close()


def test_a_prefetch_that_fails_leaves_the_job_to_be_made_ready_after_its_claim(server_settings, astronaut_bytes):
    container = build_container(server_settings, worker=False)
    job = submit(container, astronaut_bytes)
    worker = windowed_worker(container, FakeClock(), window_s=0.5)
    prepare, calls = worker.runner.prepare, []

    def flaky_prepare(job, spec):  # the first attempt (the prefetch) fails, as a blob read cut short would
        calls.append(job.id)
        if len(calls) == 1:
            raise OSError("connection reset")
        return prepare(job, spec)

    worker.runner.prepare = flaky_prepare
    claimed = worker.claim(window=True)
    worker.runner.run(claimed)
    assert calls == [job.id, job.id]
    assert states(container)[job.id] == ("succeeded", 1)
    worker.runner.close()
    container.close()


def test_a_job_whose_model_is_not_loaded_yet_says_so_before_its_first_step(server_settings, astronaut_bytes):
    container = build_container(server_settings, worker=False)
    first = submit(container, astronaut_bytes)
    worker = windowed_worker(container, FakeClock(), window_s=0.0)
    assert not worker.runner.ctx.models.is_loaded("tiny")
    worker.runner.run(worker.claim())
    events = container.events.since(first.id, 0)
    progress = [e for e in events if e["event"] == "progress"]
    assert progress[0]["phase"] == "loading_model" and progress[0]["step"] == 0 and progress[0]["model"] == "tiny"
    assert progress[-1]["step"] > 0 and "phase" not in progress[-1]
    second = submit(container, astronaut_bytes, seed=7)
    worker.runner.run(worker.claim())  # the model is loaded now: no loading phase
    assert not [e for e in container.events.since(second.id, 0) if e.get("phase")]
    assert states(container)[second.id][0] == "succeeded"
    worker.runner.close()
    container.close()
