"""The distributed mode with real parts: redis-server as broker and events, PostgreSQL, a `photogen serve
--no-worker`, and two `photogen worker` processes (Celery, solo pool) keeping blobs in one S3-compatible bucket
(moto's server). One cluster serves the whole module; the tests that kill a process run last of those using it."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from photogen.store.tables import Asset, Job, WorkerRecord
from tests.api.conftest import TERMINAL, WAIT_DEADLINE_S, fresh_postgres
from tests.api.test_security import photogen_env
from tests.s3_server import S3Server
from tests.serving import ServeProcess, start_serve

SMALL = {"prompt": "a", "steps": 3, "image_strength": 0.0, "width": 64, "height": 64}


class Cluster:
    def __init__(self, root: Path, models_dir: Path, redis_url: str, database_url: str, s3: S3Server) -> None:
        self.root, self.models_dir, self.s3 = root, models_dir, s3
        self.blob_prefix = f"cluster-{uuid.uuid4().hex[:8]}"
        self.common = {"PHOTOGEN_QUEUE": "celery", "PHOTOGEN_BROKER_URL": redis_url,
                       "PHOTOGEN_DATABASE_URL": database_url,
                       "PHOTOGEN_BLOB_URL": f"s3://{s3.bucket}/{self.blob_prefix}", **s3.environment(),
                       "PHOTOGEN_LEASE_S": "3", "PHOTOGEN_HEARTBEAT_S": "1", "PHOTOGEN_BATCH_WINDOW_MS": "400",
                       "PHOTOGEN_WEBHOOK_SECRET": "test-secret",
                       "PHOTOGEN_MAX_ACTIVE_JOBS_PER_OWNER": "100"}
        self.engine = create_engine(database_url)
        self.workers: list[tuple[subprocess.Popen, Path]] = []
        self.api: ServeProcess | None = None
        self.api_starts = 0

    def env(self, name: str) -> dict:
        return photogen_env(self.root / name, self.models_dir, **self.common)

    def start_api(self, port: int | None = None) -> ServeProcess:
        """`photogen serve --no-worker`, on `port` when given (a restart where clients already point)."""
        self.api_starts += 1
        self.api = start_serve(self.env("api"), "--no-worker", log=self.root / f"api-{self.api_starts}.log", port=port)
        return self.api

    def kill_api(self) -> None:
        self.api.process.send_signal(signal.SIGKILL)
        self.api.process.wait(timeout=30)

    def bucket_keys(self) -> set[str]:
        """The keys under the cluster's prefix, listed by a plain boto3 client (no s3fs caches in between)."""
        import boto3

        env = self.s3.environment()
        client = boto3.client("s3", endpoint_url=self.s3.endpoint, region_name=env["AWS_DEFAULT_REGION"],
                              aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
        prefix = f"{self.blob_prefix}/"
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.s3.bucket, Prefix=prefix)
        return {item["Key"].removeprefix(prefix) for page in pages for item in page.get("Contents", [])}

    def start_worker(self, name: str) -> tuple[subprocess.Popen, Path]:
        log = self.root / f"{name}.log"
        with open(log, "w") as out:
            process = subprocess.Popen([sys.executable, "-m", "photogen", "worker", "--concurrency", "1"],
                                       env=self.env(name), stdout=out, stderr=subprocess.STDOUT)
        self.workers.append((process, log))
        return process, log

    def wait_ready(self, process: subprocess.Popen, log: Path) -> str:
        """The worker's id once it is registered in the database and Celery consumes."""
        deadline = time.monotonic() + 300
        while True:
            with self.engine.connect() as connection:
                ident = connection.execute(select(WorkerRecord.id).where(WorkerRecord.pid == process.pid)).scalar()
            if ident is not None and " ready." in log.read_text():
                return ident
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-4000:]
            time.sleep(0.2)

    def jobs(self, ids: list[str]) -> list:
        with self.engine.connect() as connection:
            return connection.execute(select(Job.id, Job.state, Job.started_at, Job.claimed_by)
                                      .where(Job.id.in_(ids))).all()

    def outputs(self, ids: list[str]) -> list:
        with self.engine.connect() as connection:
            return connection.execute(select(Asset.job_id, Asset.index, Asset.blob_key, Asset.seed).where(
                Asset.job_id.in_(ids), Asset.kind == "output")).all()

    def job_count(self) -> int:
        with self.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(Job)).scalar()

    def stop(self) -> None:
        """Terminate the API and the workers together, then wait for each (kill one that does not stop)."""
        processes = [process for process, _ in self.workers]
        if self.api is not None:
            processes.insert(0, self.api.process)
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.engine.dispose()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, settings, tiny, redis_url, s3_server):
    root = tmp_path_factory.mktemp("celery")
    with fresh_postgres() as database_url:
        running = Cluster(root, settings.models_dir, redis_url, database_url, s3_server)
        try:  # all three start at once, as a deployment does (they take turns to migrate the fresh database)
            started = [running.start_worker(f"worker{n}") for n in (1, 2)]
            api = running.start_api()
            upload = httpx.post(f"{api.url}/v1/uploads", files={"file": ("a.jpg", tiny_photo(), "image/jpeg")},
                                timeout=60)
            assert upload.status_code == 201, upload.text
            running.upload_id = upload.json()["id"]
            running.ids = [running.wait_ready(process, log) for process, log in started]
            yield running
        finally:
            running.stop()


def tiny_photo() -> bytes:
    import io

    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).resize((128, 128)).save(buffer, "JPEG")
    return buffer.getvalue()


def submit(cluster: Cluster, count: int, clients: int = 4, **body) -> list[str]:
    def one(n: int) -> str:
        with httpx.Client(base_url=cluster.api.url, timeout=60) as client:  # one client each, as separate users
            response = client.post("/v1/generations", json={**SMALL, "upload_id": cluster.upload_id, "seed": n,
                                                            **body})
            assert response.status_code in (200, 201, 202), response.text
            return response.json()["id"]

    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(one, range(count)))


def wait_all(cluster: Cluster, ids: list[str]) -> dict[str, dict]:
    deadline = time.monotonic() + WAIT_DEADLINE_S
    while True:
        states = {row.id: row.state for row in cluster.jobs(ids)}
        if all(state in TERMINAL for state in states.values()):
            return {job_id: httpx.get(f"{cluster.api.url}/v1/jobs/{job_id}", timeout=30).json() for job_id in ids}
        assert time.monotonic() < deadline, f"jobs did not end: {states}"
        time.sleep(0.2)


def ran_jobs(log: Path) -> int:
    """Jobs a worker ran, from Celery's 'Task photogen.run_queued[...] succeeded in ...: N' lines."""
    return sum(int(n) for n in re.findall(r"photogen\.run_queued\[[^\]]+\] succeeded in [0-9.]+s: (\d+)",
                                          log.read_text()))


def test_jobs_from_several_clients_run_in_batches_on_both_workers(cluster):
    ids = submit(cluster, 12)
    jobs = wait_all(cluster, ids)
    assert {job["state"] for job in jobs.values()} == {"succeeded"}
    outputs = cluster.outputs(ids)
    assert sorted((job_id, index) for job_id, index, _, _ in outputs) == sorted((job_id, 0) for job_id in ids)
    starts = [row.started_at for row in cluster.jobs(ids)]
    assert len(set(starts)) < len(starts)  # some jobs were claimed together: a batch
    ran = [ran_jobs(log) for _, log in cluster.workers]
    assert sum(ran) >= 12 and all(n > 0 for n in ran), ran


def test_a_cancel_sent_to_the_api_stops_the_job_on_a_worker_within_a_step(cluster):
    job_id = submit(cluster, 1, steps=150)[0]
    steps, canceled_at, states = [], None, []
    with httpx.stream("GET", f"{cluster.api.url}/v1/jobs/{job_id}/events", timeout=WAIT_DEADLINE_S) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            if event["event"] == "progress":
                steps.append(event["step"])
                if canceled_at is None:
                    canceled_at = event["step"]
                    assert httpx.post(f"{cluster.api.url}/v1/jobs/{job_id}/cancel", timeout=30).status_code == 202
            elif event["event"] == "state":
                states.append(event["state"])
                if event["state"] in TERMINAL:
                    break
    final = httpx.get(f"{cluster.api.url}/v1/jobs/{job_id}", timeout=30).json()
    assert final["state"] == "canceled" and final["assets"] == [] and states[-1] == "canceled"
    # Between the progress event read here and the cancel reaching the worker a few steps may pass, never the job.
    assert max(steps) < 150 and final["progress"]["step"] < 150
    print(f"cancel sent after step {canceled_at}; the worker stopped at step {max(steps)} of 150")


class EventReader(threading.Thread):
    """One SSE client of one job, as a browser's EventSource is: it reads until the job's end event and, whenever
    the connection drops, connects again with the id of the last event it has as Last-Event-ID."""

    def __init__(self, url: str, job_id: str) -> None:
        super().__init__(name=f"events-{job_id[:8]}", daemon=True)
        self.url, self.job_id = url, job_id
        self.events: list[tuple[int | None, dict]] = []
        self.resumed_after: list[int] = []  # the Last-Event-ID of each reconnection
        self.started_reading = threading.Event()
        self.failure: BaseException | None = None

    def ended(self) -> bool:
        return bool(self.events) and self.events[-1][1]["event"] == "state" and self.events[-1][1]["state"] in TERMINAL

    def run(self) -> None:
        try:
            deadline = time.monotonic() + WAIT_DEADLINE_S
            while not self.ended():
                assert time.monotonic() < deadline, f"job {self.job_id}: no end event; read {self.events}"
                last = next((ident for ident, _ in reversed(self.events) if ident is not None), None)
                try:
                    self._read(last)
                except httpx.TransportError:  # the server went away, or is not back yet
                    time.sleep(0.1)
        except BaseException as exc:  # handed to the test, which joins the thread
            self.failure = exc

    def _read(self, last: int | None) -> None:
        headers = {"Last-Event-ID": str(last)} if last is not None else {}
        with httpx.stream("GET", f"{self.url}/v1/jobs/{self.job_id}/events", headers=headers,
                          timeout=httpx.Timeout(30, read=120)) as stream:
            assert stream.status_code == 200, stream.read()
            if last is not None:
                self.resumed_after.append(last)
            for ident, event in read_stream(stream):  # up to the end event, or until the server dies
                self.events.append((ident, event))
                self.started_reading.set()

    def join_checked(self) -> None:
        self.join(timeout=WAIT_DEADLINE_S)
        assert not self.is_alive(), f"job {self.job_id}: the reader never finished"
        if self.failure is not None:
            raise self.failure


def read_stream(stream: httpx.Response):
    """(id, event) pairs from an SSE response, yielded as they arrive, until the job's end event."""
    ident = None
    for line in stream.iter_lines():
        if line.startswith("id: "):
            ident = int(line[4:])
        elif line.startswith("data: "):
            event = json.loads(line[6:])
            yield ident, event
            if event["event"] == "state" and event["state"] in TERMINAL:
                return
            ident = None


def all_events(cluster: Cluster, job_id: str) -> list[tuple[int | None, dict]]:
    """A finished job's whole stream, read from the start."""
    with httpx.stream("GET", f"{cluster.api.url}/v1/jobs/{job_id}/events", timeout=60) as stream:
        assert stream.status_code == 200
        return list(read_stream(stream))


def assert_one_run_to_success(job_id: str, events: list[tuple[int | None, dict]]) -> None:
    """Every event has its id, 1, 2, 3, ... without a gap; the states tell one story that ends once, in success
    (a "running" may be followed by "queued" only where a lease ran out); the last run reports every step."""
    assert [ident for ident, _ in events] == list(range(1, len(events) + 1)), (job_id, events)
    states = [event["state"] for _, event in events if event["event"] == "state"]
    assert states[-1] == "succeeded" and not set(states[:-1]) & set(TERMINAL), (job_id, states)
    assert re.fullmatch(r"(queued,)?running,(queued,running,)*", ",".join(states[:-1]) + ","), (job_id, states)
    last_run = max(n for n, (_, event) in enumerate(events) if event.get("state") == "running")
    steps = [event for _, event in events[last_run:] if event["event"] == "progress"]
    assert [event["step"] for event in steps] == list(range(1, steps[-1]["total"] + 1)), (job_id, steps)


LATE_SEEDS = 1000  # the submitter's jobs have seeds 1000, 1001, ...; the first ones 0, 1, ...


class Submitter(threading.Thread):
    """A client that submits jobs one after another, each with its own Idempotency-Key, retrying a submission
    with the same key until an answer comes (through a server that dies and comes back)."""

    def __init__(self, cluster: Cluster, run: str, **body) -> None:
        super().__init__(name="submitter", daemon=True)
        self.cluster, self.run_id, self.body = cluster, run, body
        self.submitted: dict[str, str] = {}  # key -> the job id the answer named
        self.retried: list[str] = []  # keys sent more than once
        self.stop = threading.Event()
        self.progress = threading.Condition()
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                key = f"{self.run_id}-late-{len(self.submitted)}"
                job_id = submit_once(self.cluster, key, LATE_SEEDS + len(self.submitted), self.retried, **self.body)
                with self.progress:
                    self.submitted[key] = job_id
                    self.progress.notify_all()
        except BaseException as exc:
            self.failure = exc

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + WAIT_DEADLINE_S
        with self.progress:
            while len(self.submitted) < count:
                assert self.failure is None and self.is_alive(), self.failure
                assert time.monotonic() < deadline, f"only {len(self.submitted)} submissions went through"
                self.progress.wait(0.5)


def submit_once(cluster: Cluster, key: str, seed: int, retried: list[str], **body) -> str:
    """POST one generation with `key`, sent again on a broken connection; the job id of the answer."""
    deadline = time.monotonic() + WAIT_DEADLINE_S
    while True:
        try:
            response = httpx.post(f"{cluster.api.url}/v1/generations", headers={"Idempotency-Key": key}, timeout=60,
                                  json={**SMALL, "upload_id": cluster.upload_id, "seed": seed, **body})
        except httpx.TransportError:  # sent or not, and stored or not: the same key makes the retry safe
            assert time.monotonic() < deadline, f"{key}: no answer"
            if key not in retried:
                retried.append(key)
            time.sleep(0.1)
            continue
        assert response.status_code in (200, 202), response.text
        return response.json()["id"]


def test_an_api_killed_under_load_loses_no_job_and_its_stream_clients_miss_no_event(cluster):
    run, steps = uuid.uuid4().hex[:8], 6
    jobs_before = cluster.job_count()
    keys = [f"{run}-{n}" for n in range(16)]
    with ThreadPoolExecutor(max_workers=4) as pool:  # from 4 clients: more jobs than the workers take at once
        first = dict(zip(keys, pool.map(lambda n: submit_once(cluster, keys[n], n, [], steps=steps), range(16)),
                         strict=True))
    readers = [EventReader(cluster.api.url, first[key]) for key in keys[-6:]]  # the jobs that run last
    for reader in readers:
        reader.start()
    submitter = Submitter(cluster, run, steps=steps)
    submitter.start()

    deadline = time.monotonic() + WAIT_DEADLINE_S
    while not (all(reader.started_reading.is_set() for reader in readers)
               and any(row.state == "running" for row in cluster.jobs(list(first.values())))):
        assert time.monotonic() < deadline and all(reader.is_alive() for reader in readers), "no job ran"
        time.sleep(0.1)
    submitter.wait_for(2)  # it is posting when the server dies
    port = cluster.api.port
    cluster.kill_api()
    killed_states = {row.id: row.state for row in cluster.jobs(list(first.values()))}
    open_readers = [reader for reader in readers if not reader.ended()]

    # The workers go on without an API: wait until they have ended a job (and published it) meanwhile.
    unfinished = [job_id for job_id, state in killed_states.items() if state not in TERMINAL]
    assert unfinished, "every job had ended before the API was killed"
    while all(row.state not in TERMINAL for row in cluster.jobs(unfinished)):
        assert time.monotonic() < deadline, "no job ended while the API was down"
        time.sleep(0.1)
    cluster.start_api(port=port)
    submitter.wait_for(len(submitter.submitted) + 1)  # one more through the new server
    submitter.stop.set()
    submitter.join(timeout=WAIT_DEADLINE_S)
    assert not submitter.is_alive() and submitter.failure is None, submitter.failure
    for reader in readers:
        reader.join_checked()

    # Nothing is lost and nothing runs twice: one job per key, each ended once in success with its one output.
    late = submitter.submitted
    ids = [*first.values(), *late.values()]
    jobs = wait_all(cluster, ids)
    assert {job["state"] for job in jobs.values()} == {"succeeded"}, {k: v["state"] for k, v in jobs.items()}
    with cluster.engine.connect() as connection:
        by_key = dict(connection.execute(select(Job.idempotency_key, Job.id)
                                         .where(Job.idempotency_key.like(f"{run}-%"))).all())
    assert by_key == {**first, **late}
    assert cluster.job_count() - jobs_before == len(ids) == len(set(ids))
    seeds = {**{job_id: n for n, job_id in enumerate(first.values())},
             **{job_id: LATE_SEEDS + n for n, job_id in enumerate(late.values())}}
    assert sorted((job_id, index, seed) for job_id, index, _, seed in cluster.outputs(ids)) == sorted(
        (job_id, 0, seed) for job_id, seed in seeds.items())
    for job_id in ids:
        assert_one_run_to_success(job_id, all_events(cluster, job_id))

    # The stream clients: after the restart each resumed where it was, and what it read is the job's whole stream.
    assert open_readers, "every stream had ended before the API was killed"
    for reader in readers:
        assert reader.events == all_events(cluster, reader.job_id)
    for reader in open_readers:
        assert reader.resumed_after, f"job {reader.job_id}: the reader never reconnected"
    print(f"API killed with {sum(s == 'running' for s in killed_states.values())} jobs running and "
          f"{sum(s == 'queued' for s in killed_states.values())} queued; {len(open_readers)} streams resumed; "
          f"{len(late)} jobs submitted around the restart, {len(submitter.retried)} of them retried")


def test_a_worker_killed_mid_batch_loses_nothing(cluster):
    (victim, _), victim_id = cluster.workers[0], cluster.ids[0]
    # 50 jobs from 8 clients, job n with seed n; 4 steps keep a batch of 8 running for seconds, long enough
    # to be killed in, while the surviving worker runs the rest alone
    ids = submit(cluster, 50, clients=8, steps=4)
    deadline = time.monotonic() + WAIT_DEADLINE_S
    while True:  # kill it in the middle of a batch: while it holds several running jobs
        held = [row.id for row in cluster.jobs(ids) if row.state == "running" and row.claimed_by == victim_id]
        if len(held) >= 2:
            break
        assert time.monotonic() < deadline, "the worker never ran a batch of the jobs"
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    jobs = wait_all(cluster, ids)
    assert {job["state"] for job in jobs.values()} == {"succeeded"}, {k: v["state"] for k, v in jobs.items()}
    outputs = cluster.outputs(ids)  # exactly one output per job, made with the job's own seed
    assert sorted((job_id, index, seed) for job_id, index, _, seed in outputs) == sorted(
        (job_id, 0, n) for n, job_id in enumerate(ids))
    with cluster.engine.connect() as connection:
        keys = list(connection.execute(select(Asset.blob_key)).scalars())
        stuck = connection.execute(select(Job.id).where(Job.state == "running")).all()
    assert len(keys) == len(set(keys))  # no asset stored twice
    stored = cluster.bucket_keys()
    assert {key for key in stored if key.startswith("assets/")} == {key for key in keys if key.startswith("assets/")}
    assert stuck == []
    print(f"killed with {len(held)} running jobs; all {len(ids)} succeeded; {len(stored)} objects in the bucket")


@pytest.mark.parametrize("command", [["serve", "--no-worker"], ["worker"], ["beat"]])
def test_celery_mode_with_sqlite_refuses_to_start(tmp_path, settings, tiny, command):
    env = photogen_env(tmp_path / "home", settings.models_dir, PHOTOGEN_QUEUE="celery",
                       PHOTOGEN_BROKER_URL="redis://127.0.0.1:1/0")
    result = subprocess.run([sys.executable, "-m", "photogen", *command], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert "error [invalid_settings]: PHOTOGEN_QUEUE=celery cannot use SQLite" in result.stderr
    assert "fix: set PHOTOGEN_DATABASE_URL=postgresql+psycopg://" in result.stderr
