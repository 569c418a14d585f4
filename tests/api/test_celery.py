"""The distributed mode with real parts: redis-server as broker, PostgreSQL, a `photogen serve --no-worker`, and
two `photogen worker` processes (Celery, solo pool) sharing a blob folder."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select, text

from photogen.store.blobs import PARTIAL_PREFIX
from photogen.store.tables import Asset, Job, WorkerRecord
from tests.api.conftest import TERMINAL, WAIT_DEADLINE_S
from tests.api.test_security import photogen_env
from tests.serving import serve_process

SMALL = {"prompt": "a", "steps": 3, "image_strength": 0.0, "width": 64, "height": 64}


@contextmanager
def fresh_postgres():
    base = os.environ.get("PHOTOGEN_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"photogen_test_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL is not reachable here ({type(exc).__name__})")
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Cluster:
    def __init__(self, root: Path, models_dir: Path, redis_url: str, database_url: str) -> None:
        self.root, self.models_dir = root, models_dir
        self.blobs = root / "blobs"
        self.common = {"PHOTOGEN_QUEUE": "celery", "PHOTOGEN_BROKER_URL": redis_url,
                       "PHOTOGEN_DATABASE_URL": database_url, "PHOTOGEN_BLOB_URL": str(self.blobs),
                       "PHOTOGEN_LEASE_S": "3", "PHOTOGEN_HEARTBEAT_S": "1", "PHOTOGEN_BATCH_WINDOW_MS": "400",
                       "PHOTOGEN_WEBHOOK_SECRET": "test-secret",
                       "PHOTOGEN_MAX_ACTIVE_JOBS_PER_OWNER": "100"}
        self.engine = create_engine(database_url)
        self.workers: list[tuple[subprocess.Popen, Path]] = []

    def env(self, name: str) -> dict:
        return photogen_env(self.root / name, self.models_dir, **self.common)

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
            return connection.execute(select(Asset.job_id, Asset.index, Asset.blob_key).where(
                Asset.job_id.in_(ids), Asset.kind == "output")).all()

    def stop(self) -> None:
        for process, _ in self.workers:
            if process.poll() is None:
                process.terminate()
        for process, _ in self.workers:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.engine.dispose()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, settings, tiny, redis_url):
    root = tmp_path_factory.mktemp("celery")
    with fresh_postgres() as database_url:
        running = Cluster(root, settings.models_dir, redis_url, database_url)
        try:
            with serve_process(running.env("api"), "--no-worker", log=root / "api.log") as api:
                upload = httpx.post(f"{api.url}/v1/uploads", files={"file": ("a.jpg", tiny_photo(), "image/jpeg")},
                                    timeout=60)
                assert upload.status_code == 201, upload.text
                running.api, running.upload_id = api, upload.json()["id"]
                started = [running.start_worker(f"worker{n}") for n in (1, 2)]
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
    assert sorted((job_id, index) for job_id, index, _ in outputs) == sorted((job_id, 0) for job_id in ids)
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


def test_a_worker_killed_mid_batch_loses_nothing(cluster):
    (victim, _), victim_id = cluster.workers[0], cluster.ids[0]
    ids = submit(cluster, 50, clients=8, steps=12)  # 50 jobs from 8 clients
    deadline = time.monotonic() + WAIT_DEADLINE_S
    while True:  # kill it while it holds running jobs
        held = [row.id for row in cluster.jobs(ids) if row.state == "running" and row.claimed_by == victim_id]
        if held:
            break
        assert time.monotonic() < deadline, "the worker never ran any of the jobs"
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    jobs = wait_all(cluster, ids)
    assert {job["state"] for job in jobs.values()} == {"succeeded"}, {k: v["state"] for k, v in jobs.items()}
    outputs = cluster.outputs(ids)
    assert sorted((job_id, index) for job_id, index, _ in outputs) == sorted((job_id, 0) for job_id in ids)
    with cluster.engine.connect() as connection:
        keys = set(connection.execute(select(Asset.blob_key)).scalars())
        stuck = connection.execute(select(Job.id).where(Job.state == "running")).all()
    files = {str(path.relative_to(cluster.blobs)) for path in (cluster.blobs / "assets").rglob("*")
             if path.is_file() and not path.name.startswith(PARTIAL_PREFIX)}
    assert files == {key for key in keys if key.startswith("assets/")}  # no orphan and no missing blob
    assert stuck == []
    assert any(job_id in held for job_id in ids)
    print(f"killed with {len(held)} running jobs; all {len(ids)} succeeded")


@pytest.mark.parametrize("command", [["serve", "--no-worker"], ["worker"], ["beat"]])
def test_celery_mode_with_sqlite_refuses_to_start(tmp_path, settings, tiny, command):
    env = photogen_env(tmp_path / "home", settings.models_dir, PHOTOGEN_QUEUE="celery",
                       PHOTOGEN_BROKER_URL="redis://127.0.0.1:1/0")
    result = subprocess.run([sys.executable, "-m", "photogen", *command], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert "error [invalid_settings]: PHOTOGEN_QUEUE=celery cannot use SQLite" in result.stderr
    assert "fix: set PHOTOGEN_DATABASE_URL=postgresql+psycopg://" in result.stderr
