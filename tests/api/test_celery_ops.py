"""Operating the distributed mode with real processes: `photogen beat`'s periodic tasks (webhook outbox, retention
purge), a RabbitMQ broker, and the metrics each worker serves itself.

Every process is real: redis-server (tests/redis_server.py), the local PostgreSQL, RabbitMQ at 127.0.0.1:5672,
`photogen serve --no-worker`, `photogen worker` and `photogen beat`."""

from __future__ import annotations

import http.server
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta, timezone
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, select, update

from photogen.config import Settings
from photogen.net.webhooks import verify
from photogen.store.tables import Job, Upload, WebhookOutbox, WorkerRecord
from tests.api.conftest import TERMINAL, WAIT_DEADLINE_S, fresh_postgres
from tests.api.test_celery import tiny_photo
from tests.api.test_security import photogen_env
from tests.serving import free_port, serve_process

RABBITMQ_URL = os.environ.get("PHOTOGEN_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672//")
SMALL = {"prompt": "a", "steps": 3, "image_strength": 0.0, "width": 64, "height": 64}


class Processes:
    """`photogen` commands started for one test module, each with its own home and log, stopped at the end."""

    def __init__(self, root: Path, models_dir: Path, database_url: str, **common: str) -> None:
        self.root, self.models_dir = root, models_dir
        self.common = {"PHOTOGEN_QUEUE": "celery", "PHOTOGEN_DATABASE_URL": database_url,
                       "PHOTOGEN_BLOB_URL": str(root / "blobs"), "PHOTOGEN_LEASE_S": "6", "PHOTOGEN_HEARTBEAT_S": "1",
                       "PHOTOGEN_WEBHOOK_SECRET": "test-secret", **common}
        self.engine = create_engine(database_url)
        self.started: list[tuple[subprocess.Popen, Path]] = []

    def env(self, name: str) -> dict:
        return photogen_env(self.root / name, self.models_dir, **self.common)

    def start(self, name: str, *args: str) -> tuple[subprocess.Popen, Path]:
        log = self.root / f"{name}.log"
        with open(log, "w") as out:
            process = subprocess.Popen([sys.executable, "-m", "photogen", *args], env=self.env(name), stdout=out,
                                       stderr=subprocess.STDOUT)
        self.started.append((process, log))
        return process, log

    def start_worker(self, name: str, *args: str) -> tuple[subprocess.Popen, Path, str]:
        """A `photogen worker`, once it is registered in the database and Celery consumes; with its worker id."""
        process, log = self.start(name, "worker", *args)
        deadline = time.monotonic() + 300
        while True:
            with self.engine.connect() as connection:
                ident = connection.execute(select(WorkerRecord.id).where(WorkerRecord.pid == process.pid)).scalar()
            if ident is not None and " ready." in log.read_text():
                return process, log, ident
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-4000:]
            time.sleep(0.2)

    def stop(self) -> None:
        for process, _ in self.started:
            if process.poll() is None:
                process.terminate()
        for process, _ in self.started:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.engine.dispose()


def upload(api_url: str, photo: bytes | None = None) -> str:
    photo = tiny_photo() if photo is None else photo
    response = httpx.post(f"{api_url}/v1/uploads", files={"file": ("a.jpg", photo, "image/jpeg")}, timeout=60)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def until(condition, what: str, timeout: float = WAIT_DEADLINE_S):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:g} s"
        time.sleep(0.2)


def task_results(log: Path, task: str) -> list[str]:
    """What each run of `task` returned, from Celery's 'Task NAME[id] succeeded in Xs: RESULT' lines."""
    return re.findall(rf"Task {re.escape(task)}\[[^\]]+\] succeeded in [0-9.]+s: (.*)", log.read_text())


def submit(api_url: str, upload_id: str, **body) -> str:
    response = httpx.post(f"{api_url}/v1/generations", json={**SMALL, "upload_id": upload_id, **body}, timeout=60)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def job_states(engine, ids: list[str]) -> dict[str, str]:
    with engine.connect() as connection:
        return dict(connection.execute(select(Job.id, Job.state).where(Job.id.in_(ids))).all())


def wait_ended(engine, ids: list[str]) -> dict[str, str]:
    return until(lambda: (states := job_states(engine, ids)) and all(s in TERMINAL for s in states.values()) and states,
                 f"the end of jobs {ids}")


def other_photo() -> bytes:
    """A photo with other bytes than tiny_photo's, so the two uploads keep separate blobs."""
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.coffee()).resize((128, 96)).save(buffer, "JPEG")
    return buffer.getvalue()


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a Prometheus text page, keyed by (name, sorted labels)."""
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, response.text
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


class Receiver(http.server.BaseHTTPRequestHandler):
    """Keeps each POST's headers and body on its server's `posts`; answers 200."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posts.append((dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def receiver():
    """A webhook receiver on loopback (the cluster's PHOTOGEN_URL_ALLOWLIST lets callbacks reach it)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.posts = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield server
    server.shutdown()
    server.server_close()


# -- beat: the webhook outbox and the retention purge as Celery tasks; a worker's own metrics ----------------------

INTERVAL_S = 1  # beat's webhook and purge schedule in these tests


@pytest.fixture(scope="module")
def ops_cluster(tmp_path_factory, settings, tiny, redis_url):
    """API node, one worker with --metrics-port, on a Redis broker; beat is started by the test that needs it."""
    root = tmp_path_factory.mktemp("celery-ops")
    with fresh_postgres() as database_url:
        processes = Processes(root, settings.models_dir, database_url, PHOTOGEN_BROKER_URL=redis_url,
                              PHOTOGEN_BROKER_QUEUE=f"photogen-test-{uuid.uuid4().hex[:8]}",
                              PHOTOGEN_WEBHOOK_POLL_S=str(INTERVAL_S), PHOTOGEN_PURGE_INTERVAL_S=str(INTERVAL_S),
                              PHOTOGEN_RETENTION_ORIGINALS_DAYS="1", PHOTOGEN_URL_ALLOWLIST='["127.0.0.1"]',
                              PHOTOGEN_RUN_SLICE_S="0", PHOTOGEN_BATCH_WINDOW_MS="300")
        try:
            with serve_process(processes.env("api"), "--no-worker", log=root / "api.log") as api:
                processes.api = api
                processes.metrics_port = free_port()
                processes.worker = processes.start_worker("worker", "--metrics-port", str(processes.metrics_port))
                yield processes
        finally:
            processes.stop()


def test_beat_sends_the_outbox_and_the_purge_to_the_worker_and_the_api_node_runs_neither(ops_cluster, receiver):
    api, engine = ops_cluster.api, ops_cluster.engine
    _, worker_log, _ = ops_cluster.worker
    expired = upload(api.url, other_photo())
    with engine.begin() as connection:  # two days old, past the one-day retention
        connection.execute(update(Upload).where(Upload.id == expired).values(
            created_at=Upload.created_at - timedelta(days=2)))
    with engine.connect() as connection:
        expired_blob = ops_cluster.root / "blobs" / connection.execute(
            select(Upload.blob_key).where(Upload.id == expired)).scalar_one()
    assert expired_blob.is_file()
    job_id = submit(api.url, upload(api.url), seed=1, callback_url=receiver.url)
    assert wait_ended(engine, [job_id]) == {job_id: "succeeded"}

    # No beat yet: the event waits in the outbox and the old upload stays. With the embedded queue the API node's
    # threads would have sent it and purged within an interval (the purge runs right at start).
    time.sleep(4 * INTERVAL_S)
    assert receiver.posts == []
    with engine.connect() as connection:
        assert connection.execute(select(WebhookOutbox.state).where(WebhookOutbox.job_id == job_id)).all() == [
            ("pending",)]
    assert httpx.get(f"{api.url}/v1/uploads/{expired}", timeout=30).status_code == 200
    assert task_results(worker_log, "photogen.deliver_webhooks") == []

    _, beat_log = ops_cluster.start("beat", "beat")
    until(lambda: receiver.posts, "the webhook delivery")
    headers, body = receiver.posts[0]
    assert headers["Photogen-Event-Id"] == f"{job_id}.succeeded"
    assert verify(b"test-secret", headers["Photogen-Signature"], body)
    assert json.loads(body)["type"] == "job.succeeded" and json.loads(body)["job"]["id"] == job_id
    until(lambda: httpx.get(f"{api.url}/v1/uploads/{expired}", timeout=30).status_code == 404, "the retention purge")
    assert not expired_blob.exists()
    assert len(receiver.posts) == 1  # delivered once, then marked delivered
    with engine.connect() as connection:
        assert connection.execute(select(WebhookOutbox.state).where(WebhookOutbox.job_id == job_id)).all() == [
            ("delivered",)]
    # The worker ran them as the Celery tasks beat sent.
    until(lambda: "1" in task_results(worker_log, "photogen.deliver_webhooks"), "the outbox task's log line")
    purges = [result for result in task_results(worker_log, "photogen.purge") if "'uploads': 1" in result]
    assert purges, worker_log.read_text()[-3000:]
    assert "Sending due task deliver-webhooks (photogen.deliver_webhooks)" in beat_log.read_text()
    assert "Sending due task retention-purge (photogen.purge)" in beat_log.read_text()
    assert httpx.get(f"{api.url}/v1/jobs/{job_id}", timeout=30).json()["state"] == "succeeded"


def test_an_api_node_in_celery_mode_starts_neither_the_outbox_nor_the_retention_thread(tmp_path, redis_url):
    from photogen.container import build_container

    def threads_started(queue: str, database_url: str) -> set[str]:
        container = build_container(Settings(home=tmp_path / queue, device="cpu", offline=True, queue=queue,
                                             broker_url=redis_url, database_url=database_url,
                                             blob_url=str(tmp_path / "blobs"), worker_enabled=False))
        before = {thread.name for thread in threading.enumerate()}
        container.start()
        try:
            return {thread.name for thread in threading.enumerate()} - before
        finally:
            container.close()

    with fresh_postgres() as database_url:
        embedded = threads_started("embedded", database_url)
        celery = threads_started("celery", database_url)
    assert {"photogen-webhooks", "photogen-retention"} <= embedded  # the names the check looks for
    assert celery.isdisjoint({"photogen-webhooks", "photogen-retention"}), celery


def test_a_worker_serves_its_own_metrics_with_its_heartbeat_labels(ops_cluster):
    api, engine = ops_cluster.api, ops_cluster.engine
    _, _, worker_id = ops_cluster.worker
    job_id = submit(api.url, upload(api.url), seed=2, steps=5)
    assert wait_ended(engine, [job_id]) == {job_id: "succeeded"}
    samples = scrape(f"http://127.0.0.1:{ops_cluster.metrics_port}/metrics")
    with engine.connect() as connection:
        row = connection.execute(select(WorkerRecord.id, WorkerRecord.hostname, WorkerRecord.pid,
                                        WorkerRecord.last_heartbeat_at).where(WorkerRecord.id == worker_id)).one()
    info = [dict(labels) for (name, labels), value in samples.items() if name == "photogen_worker_info" and value == 1]
    assert info == [{"worker": row.id, "hostname": row.hostname, "pid": str(row.pid), "kind": "celery", "gpu": ""}]
    beat = samples[("photogen_worker_last_heartbeat_timestamp_seconds", (("worker", row.id),))]
    last = row.last_heartbeat_at if row.last_heartbeat_at.tzinfo else row.last_heartbeat_at.replace(tzinfo=timezone.utc)
    assert abs(beat - last.timestamp()) < 10
    assert samples[("photogen_batch_size_count", ())] >= 1 and samples[("photogen_batch_size_sum", ())] >= 1
    assert samples[("photogen_batch_size_bucket", (("le", "1.0"),))] >= 1  # this job ran alone: a batch of 1
    steps = samples[("photogen_step_seconds_count", (("model", "tiny"),))]
    assert steps >= 4  # 5 steps: the seconds between consecutive ones
    assert samples[("photogen_step_seconds_sum", (("model", "tiny"),))] > 0
    assert samples[("photogen_outputs_total", ())] >= 1
    assert samples[("photogen_jobs_finished_total", (("state", "succeeded"),))] >= 1
    # The API node ran no job: its own /metrics has the queue, not what the worker measured.
    on_api = scrape(f"{api.url}/metrics")
    assert on_api[("photogen_queue_jobs", (("state", "succeeded"),))] >= 1
    assert on_api[("photogen_batch_size_count", ())] == 0


def test_a_run_queued_task_hands_back_after_its_slice(ops_cluster):
    api, engine = ops_cluster.api, ops_cluster.engine
    _, worker_log, _ = ops_cluster.worker
    before = len(task_results(worker_log, "photogen.run_queued"))
    upload_id = upload(api.url)
    ids = [submit(api.url, upload_id, seed=3, steps=3), submit(api.url, upload_id, seed=4, steps=4)]  # two groups
    assert wait_ended(engine, ids) == {job_id: "succeeded" for job_id in ids}
    ran = until(lambda: (results := [int(n) for n in task_results(worker_log, "photogen.run_queued")[before:]])
                and sum(results) == 2 and results, "the log lines of the run_queued tasks")
    assert max(ran) == 1, ran  # PHOTOGEN_RUN_SLICE_S=0: one group per message, the other in the next


def test_metrics_port_needs_one_process_and_a_free_port(ops_cluster):
    result = subprocess.run([sys.executable, "-m", "photogen", "worker", "--concurrency", "2", "--metrics-port", "9"],
                            env=ops_cluster.env("refused"), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "error [invalid_option]: --metrics-port serves one process's metrics" in result.stderr
    taken = str(ops_cluster.metrics_port)  # the cluster's worker serves on it
    result = subprocess.run([sys.executable, "-m", "photogen", "worker", "--metrics-port", taken],
                            env=ops_cluster.env("taken"), capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert f"error [metrics_port_unavailable]: cannot serve metrics on 127.0.0.1:{taken}" in result.stderr


# -- RabbitMQ as the broker ---------------------------------------------------------------------------------------

# A short AMQP heartbeat (the client proposes it in the URL, RabbitMQ takes the lower value): RabbitMQ drops a
# connection that misses two, so a worker whose consumer stopped answering while a job runs (as with Celery's solo
# pool) loses it within seconds, and its message comes back.
HEARTBEAT_S = 2


@pytest.fixture(scope="module")
def rabbitmq():
    """The broker URL, or a skip where no RabbitMQ answers (an error in CI)."""
    from kombu import Connection

    try:
        with Connection(RABBITMQ_URL, connect_timeout=5) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"RabbitMQ is not reachable at {RABBITMQ_URL} ({type(exc).__name__})")
    return RABBITMQ_URL


@pytest.fixture(scope="module")
def rabbit_cluster(tmp_path_factory, settings, tiny, redis_url, rabbitmq):
    """API node and one worker with RabbitMQ as the broker (a queue of this run's own, deleted afterwards) and the
    live events on Redis."""
    from kombu import Connection

    root = tmp_path_factory.mktemp("celery-rabbitmq")
    queue = f"photogen-test-{uuid.uuid4().hex[:8]}"
    with fresh_postgres() as database_url:
        processes = Processes(root, settings.models_dir, database_url, PHOTOGEN_BROKER_QUEUE=queue,
                              PHOTOGEN_BROKER_URL=f"{rabbitmq}?heartbeat={HEARTBEAT_S}", PHOTOGEN_EVENTS_URL=redis_url)
        try:
            with serve_process(processes.env("api"), "--no-worker", log=root / "api.log") as api:
                processes.api = api
                processes.worker = processes.start_worker("worker")
                yield processes
        finally:
            processes.stop()
            with Connection(rabbitmq, connect_timeout=5) as connection:
                connection.default_channel.queue_delete(queue)


def stream_events(api_url: str, job_id: str, on_progress=None) -> tuple[list[int], list[str]]:
    """The progress steps and states of a job's event stream, read until the job ends."""
    progress, states = [], []
    with httpx.stream("GET", f"{api_url}/v1/jobs/{job_id}/events", timeout=WAIT_DEADLINE_S) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            if event["event"] == "progress":
                progress.append(event["step"])
                if on_progress is not None:
                    on_progress(event)
            elif event["event"] == "state":
                states.append(event["state"])
                if event["state"] in TERMINAL:
                    return progress, states
    raise AssertionError(f"the event stream of {job_id} closed before the job ended")


def received_task_ids(log: Path) -> list[str]:
    return re.findall(r"Task photogen\.run_queued\[([^\]]+)\] received", log.read_text())


def test_a_job_runs_end_to_end_through_rabbitmq_with_events_on_redis(rabbit_cluster):
    api = rabbit_cluster.api
    _, log, _ = rabbit_cluster.worker
    job_id = submit(api.url, upload(api.url), seed=7, steps=8)
    progress, states = stream_events(api.url, job_id)
    job = httpx.get(f"{api.url}/v1/jobs/{job_id}", timeout=30).json()
    assert job["state"] == "succeeded", job
    assert [asset["kind"] for asset in job["assets"]].count("output") == 1
    assert states[-1] == "succeeded" and "running" in states
    assert progress and progress == sorted(progress) and progress[-1] == 8  # the worker's progress, through Redis
    assert task_results(log, "photogen.run_queued"), log.read_text()[-4000:]
    assert "transport:   amqp://guest:**@127.0.0.1:5672//" in log.read_text()


def test_a_worker_keeps_its_rabbitmq_connection_through_a_long_job_and_a_cancel_reaches_it(rabbit_cluster):
    api = rabbit_cluster.api
    _, log, _ = rabbit_cluster.worker
    job_id = submit(api.url, upload(api.url), seed=8, steps=150, width=256, height=256)
    first_step: list[float] = []

    def cancel_after_several_heartbeats(event: dict) -> None:
        if not first_step:
            first_step.append(time.monotonic())
        elif len(first_step) == 1 and time.monotonic() - first_step[0] > 3 * HEARTBEAT_S:
            first_step.append(time.monotonic())
            assert httpx.post(f"{api.url}/v1/jobs/{job_id}/cancel", timeout=30).status_code == 202

    progress, states = stream_events(api.url, job_id, cancel_after_several_heartbeats)
    assert states[-1] == "canceled" and max(progress) < 150
    assert len(first_step) == 2  # the job ran for three heartbeat intervals before the cancel
    until(lambda: len(task_results(log, "photogen.run_queued")) == len(received_task_ids(log)),
          "the end of every run_queued task received")
    text = log.read_text()
    assert "Connection to broker lost" not in text, text[-4000:]
    ids = received_task_ids(log)
    assert len(ids) == len(set(ids)), ids  # no message came back: the connection held while the job ran


@pytest.mark.parametrize("command", [["serve", "--no-worker"], ["worker"]])
def test_celery_mode_with_a_rabbitmq_broker_and_no_events_url_refuses_to_start(tmp_path, settings, tiny, command):
    env = photogen_env(tmp_path / "home", settings.models_dir, PHOTOGEN_QUEUE="celery",
                       PHOTOGEN_BROKER_URL="amqp://guest:guest@127.0.0.1:1//",
                       PHOTOGEN_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:1/none")
    result = subprocess.run([sys.executable, "-m", "photogen", *command], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2, result.stderr
    assert "error [invalid_settings]: PHOTOGEN_QUEUE=celery with a broker that is not Redis needs a Redis" in \
        result.stderr
    assert "fix: set PHOTOGEN_EVENTS_URL=redis://" in result.stderr
