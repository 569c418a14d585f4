"""Prometheus metrics: what the worker observes as it runs, and what a scrape reads from the database.

The run metrics (batch sizes, step times, job latencies, outputs, errors) are process-wide, as Prometheus
client metrics are: one set per process, observed by the runner and by the end-of-job hook. The queue depth
and the GPU memory are read at scrape time by `ServerCollector`, which the /metrics route renders together
with the run metrics. A Celery worker is its own process, so it serves its own: `WorkerCollector` on the port
`photogen worker --metrics-port` opens (`serve_worker_metrics`), with the labels of its heartbeat row.
Nothing here imports torch: GPU memory is read only where torch is already loaded."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)


class RunMetrics:
    """The metrics a worker observes, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.batch_size = Histogram("photogen_batch_size", "Requests run together in one model pass.",
                                    buckets=BATCH_BUCKETS, registry=self.registry)
        self.step_seconds = Histogram("photogen_step_seconds", "Seconds per denoising step, by model.",
                                      ["model"], buckets=STEP_BUCKETS, registry=self.registry)
        self.job_seconds = Histogram("photogen_job_seconds", "Job latency by phase: queued (created to started), "
                                     "running (started to finished), total (created to finished).",
                                     ["phase"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.jobs_finished = Counter("photogen_jobs_finished", "Jobs that ended, by final state.", ["state"],
                                     registry=self.registry)
        self.outputs = Counter("photogen_outputs", "Output images stored; rate() gives outputs per second.",
                               registry=self.registry)
        self.errors = Counter("photogen_job_errors", "Failed jobs by error code.", ["code"], registry=self.registry)

    def observe_batch(self, size: int) -> None:
        self.batch_size.observe(size)

    def timed_steps(self, model: str, on_step: Callable[[int, int], None] | None) -> Callable[[int, int], None]:
        """`on_step` that also records the seconds between consecutive steps under `model`."""
        histogram = self.step_seconds.labels(model=model)
        last: list[float] = []

        def step(done: int, total: int) -> None:
            now = time.perf_counter()
            if last:
                histogram.observe(now - last[0])
                last[0] = now
            else:
                last.append(now)
            if on_step is not None:
                on_step(done, total)

        return step

    def observe_job_end(self, state: str, *, created_at: datetime | None, started_at: datetime | None,
                        finished_at: datetime | None, outputs: int, error_code: str | None) -> None:
        self.jobs_finished.labels(state=state).inc()
        if created_at and started_at:
            self.job_seconds.labels(phase="queued").observe(_seconds(created_at, started_at))
        if started_at and finished_at:
            self.job_seconds.labels(phase="running").observe(_seconds(started_at, finished_at))
        if created_at and finished_at:
            self.job_seconds.labels(phase="total").observe(_seconds(created_at, finished_at))
        if outputs:
            self.outputs.inc(outputs)
        if state == "failed":
            self.errors.labels(code=error_code or "internal_error").inc()


def _seconds(start: datetime, end: datetime) -> float:
    """Between two UTC times, either of which may come without its zone (SQLite gives them so)."""
    start, end = (t if t.tzinfo else t.replace(tzinfo=timezone.utc) for t in (start, end))
    return max(0.0, (end - start).total_seconds())


RUN_METRICS = RunMetrics()  # process-wide, like every Prometheus client metric


class ServerCollector(Collector):
    """At scrape time: jobs by state from the database, this process's GPU memory, and the run metrics."""

    def __init__(self, count_jobs_by_state: Callable[[], dict[str, int]], run: RunMetrics,
                 states: tuple[str, ...], worker: str | None = None) -> None:
        self.count_jobs_by_state = count_jobs_by_state
        self.run = run
        self.states = states
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("photogen_queue_jobs", "Jobs in the database by state, read at scrape time.",
                                  labels=["state"])
        counts = self.count_jobs_by_state()
        for state in self.states:
            depth.add_metric([state], counts.get(state, 0))
        yield depth
        yield _gpu_memory(self.worker)
        yield from self.run.registry.collect()


@dataclass(frozen=True)
class WorkerLabels:
    """Who a worker is, as its heartbeat row in the database (and GET /v1/health) says."""

    worker: str  # the worker id, also jobs.claimed_by
    hostname: str
    pid: int
    kind: str
    gpu: str | None


class WorkerCollector(Collector):
    """At scrape time, in a worker process: who it is, when its heartbeat last reached the database, its GPU
    memory and the run metrics it observed. The queue depth is the API's to report (it reads the database)."""

    def __init__(self, labels: Callable[[], WorkerLabels | None], run: RunMetrics, *,
                 last_heartbeat: Callable[[], float | None]) -> None:
        self.labels = labels  # None until the worker has registered
        self.run = run
        self.last_heartbeat = last_heartbeat

    def collect(self) -> Iterator[Metric]:
        labels = self.labels()
        info = GaugeMetricFamily("photogen_worker_info", "This worker, labelled as its heartbeat row: worker id "
                                 "(jobs.claimed_by), hostname, pid, kind and GPU; always 1.",
                                 labels=["worker", "hostname", "pid", "kind", "gpu"])
        beat = GaugeMetricFamily("photogen_worker_last_heartbeat_timestamp_seconds", "Unix time of this worker's "
                                 "last heartbeat that reached the database.", labels=["worker"])
        last = self.last_heartbeat()
        if labels is not None:
            info.add_metric([labels.worker, labels.hostname, str(labels.pid), labels.kind, labels.gpu or ""], 1)
            if last is not None:
                beat.add_metric([labels.worker], last)
        yield info
        yield beat
        if labels is not None:
            yield _gpu_memory(labels.worker)
        yield from self.run.registry.collect()


def serve_worker_metrics(collector: WorkerCollector, port: int, host: str) -> Callable[[], None]:
    """Serve `collector` in the Prometheus text format at http://host:port/metrics on a daemon thread (OSError
    when the port is taken); returns what stops it."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    server, thread = start_http_server(port, addr=host, registry=registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


def _gpu_memory(worker: str) -> Metric:
    memory = GaugeMetricFamily("photogen_gpu_memory_bytes", "GPU memory allocated by torch in a worker "
                               "process, by device; absent without CUDA.", labels=["worker", "device"])
    for device, allocated in _cuda_memory():
        memory.add_metric([worker, device], allocated)
    return memory


def _cuda_memory() -> list[tuple[str, int]]:
    """Allocated bytes per CUDA device, only where this process has loaded torch already (a worker)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return []
    return [(f"cuda:{index}", int(torch.cuda.memory_allocated(index))) for index in range(torch.cuda.device_count())]


def render(collector: ServerCollector) -> bytes:
    """The Prometheus text exposition of everything the collector reports."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry)
