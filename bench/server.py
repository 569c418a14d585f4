"""Concurrent clients against real photogen processes on 127.0.0.1: throughput, latency, overhead per request.

    .venv/bin/python bench/server.py                      # embedded: tiny model, 16 clients, CPU-sized steps
    .venv/bin/python bench/server.py --workers 2          # and distributed, 2 workers, in the same run
    .venv/bin/python bench/server.py --model random-sd15 --steps 40 --image-strength 0.25 --workers 2   # GPU host

Modes, run one after the other with the same requests:
  embedded     `photogen serve`: SQLite, a local blob folder, the in-process worker thread;
  distributed  (with --workers N) a redis-server on a free port (broker and events), a fresh PostgreSQL database
               (dropped afterwards; PHOTOGEN_BENCH_POSTGRES names the server, by default the local one as
               postgres), `photogen serve --no-worker` with PHOTOGEN_QUEUE=celery, and N `photogen worker`
               processes, all sharing one blob folder (docs/deploy.md).

`--model` is anything PHOTOGEN_DEFAULT_MODEL takes, or `random-sd15` / `random-sdxl`: the full-size
architectures with random weights (as bench/engine.py builds them), saved once as a diffusers folder that
every process loads.

Each request goes the whole way, as a client pays for it: JSON in (naming a photo uploaded once, or with
`--source inline` the photo itself in base64, so intake's decode and preflight count too), a queued job, the
worker's batch, PNG out. The client waits for the job's end on its Server-Sent Events, then reads the job
and downloads its PNG.

Reported per mode:
  - images/s and p50/p95 end-to-end latency with N concurrent clients;
  - overhead per request, from one client at a time (nothing else queued): the client's whole latency
    (POST sent to PNG received) less the model's time and the batch window (PHOTOGEN_BATCH_WINDOW_MS, for
    which a lone job is held by design). The model's time is what the worker measured around the model's
    pass for that very job, less the time the pass spent in the job's callbacks (progress events, cancel
    checks): those count as overhead. The median, and where it went;
  - resident memory of the processes.

    .venv/bin/python bench/server.py --idle-rss           # an API node's memory: serve --no-worker
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import re
import statistics
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from serving import (  # bench/serving.py, beside this script
    HOST,
    free_port,
    fresh_database,
    redis_server,
    start_server,
    start_worker,
    stop,
    wait_ready,
)

RESULTS = Path(__file__).resolve().parent / "results"
STATS_SETTLE_S = 12.0  # PostgreSQL backends report their statistics when idle, at most this late
TERMINAL = ("succeeded", "failed", "canceled")


def source_jpeg(side: int = 640) -> bytes:
    """A photo-like JPEG: smooth light falloff, edges and grain (the content does not change the cost)."""
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    base = np.stack([200 * (1 - 0.5 * y), 150 + 60 * x, 120 + 80 * (x * y)], axis=-1)
    base[(x - 0.5) ** 2 + (y - 0.45) ** 2 < 0.04] *= 0.6  # a round subject
    grain = np.random.default_rng(0).normal(0, 6, base.shape)
    image = Image.fromarray(np.clip(base + grain, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def server_settings(args) -> dict[str, str]:
    """What every process of either mode is given. Uploads per minute are lifted so that `--source inline`
    (every request an upload) is not refused; nothing else differs from the defaults unless asked."""
    settings = {"PHOTOGEN_DEFAULT_MODEL": args.model, "PHOTOGEN_DEVICE": args.device,
                "PHOTOGEN_MAX_BATCH_IMAGES": str(args.max_batch),
                "PHOTOGEN_BATCH_WINDOW_MS": f"{args.batch_window_ms:g}", "PHOTOGEN_UPLOADS_PER_MINUTE": "100000"}
    if getattr(args, "server_src", None):  # the processes run that source tree
        settings["PYTHONPATH"] = str(Path(args.server_src).resolve())
    return settings


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def mapped_libraries(pid: int, names: tuple[str, ...]) -> list[str]:
    """Which of `names` appear among the files the process has mapped (its loaded shared libraries)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return [name for name in names if name in maps]


def api_node_memory(args) -> None:
    """`--idle-rss`: an API node (`serve --no-worker`) started, asked a few things, then sent one upload."""
    heavy = ("libtorch", "cv2")
    with tempfile.TemporaryDirectory(prefix="photogen-bench-") as folder:
        home, port = Path(folder), free_port()
        server = start_server(home, port, server_settings(args), "--no-worker")
        try:
            rows = [("started, /v1/health answered", rss_mb(server.pid), mapped_libraries(server.pid, heavy))]
            with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=600.0) as http:
                for path in ("/v1/health", "/v1/uploads", "/v1/jobs", "/v1/models", "/v1/recipes"):
                    http.get(path).raise_for_status()
                rows.append(("after listing uploads, jobs, models, recipes", rss_mb(server.pid),
                             mapped_libraries(server.pid, heavy)))
                http.post("/v1/uploads", files={"file": ("photo.jpg", source_jpeg(), "image/jpeg")}).raise_for_status()
                rows.append(("after one upload (intake's preflight)", rss_mb(server.pid),
                             mapped_libraries(server.pid, heavy)))
        finally:
            stop(server)
    print(f"{'serve --no-worker':48s} {'RSS MB':>8s}  libraries mapped")
    for label, rss, libraries in rows:
        print(f"{label:48s} {rss or 0:8.0f}  {', '.join(libraries) or 'none of ' + ', '.join(heavy)}")


# -- one request, as a client makes it ---------------------------------------------------------------------

def epoch(moment: str) -> float:
    """Seconds since the epoch of a time the API gives (UTC, with or without its zone)."""
    parsed = datetime.fromisoformat(moment)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


def one_request(http: httpx.Client, body: dict) -> dict:
    """POST a generation, wait for its end on SSE, read the job and download the PNG; times in seconds."""
    t0 = time.perf_counter()
    response = http.post("/v1/generations", json=body, headers={"Idempotency-Key": os.urandom(8).hex()})
    response.raise_for_status()
    job_id = response.json()["id"]
    t_submitted = time.perf_counter()
    end: dict = {}
    t_told = told_at = None
    # Read to the stream's end (the server ends it right after the job's end event): a stream left early costs
    # its connection, and the next call a new one.
    with http.stream("GET", f"/v1/jobs/{job_id}/events") as events:
        for line in events.iter_lines():
            if line.startswith("data:"):
                event = json.loads(line[5:])
                if event.get("event") == "state" and event.get("state") in TERMINAL:
                    end, t_told, told_at = event, time.perf_counter(), time.time()
    if t_told is None:
        raise RuntimeError(f"the events of job {job_id} ended without the job's end")
    job = http.get(f"/v1/jobs/{job_id}").json()
    if job["state"] != "succeeded":
        raise RuntimeError(f"job {job_id} ended {job['state']}: {job.get('error')}")
    t_read = time.perf_counter()
    outputs = [a for a in job["assets"] if a["kind"] == "output"]
    png = http.get(f"/v1/assets/{outputs[0]['id']}/content").content
    t_done = time.perf_counter()
    timings = end.get("timings") or {}
    return {
        "latency": t_done - t0,
        "post": t_submitted - t0,
        "wait": t_told - t_submitted,
        "read_job": t_read - t_told,
        "download": t_done - t_read,
        "queued": epoch(job["started_at"]) - epoch(job["created_at"]),
        "worker": epoch(job["finished_at"]) - epoch(job["started_at"]),
        "told": told_at - epoch(job["finished_at"]),  # the job's end to the client's SSE event (one clock)
        "model": timings.get("model_ms", float("nan")) / 1000,
        "timings": timings,
        "png_bytes": len(png),
    }


# -- the two modes -----------------------------------------------------------------------------------------

@dataclass
class Running:
    """A mode's processes, started: the URL clients use, and each process to stop and measure."""

    url: str
    api_pid: int
    worker_pids: list[int] = field(default_factory=list)
    worker_logs: list[Path] = field(default_factory=list)
    database_url: str | None = None  # PostgreSQL: transactions are counted
    redis_url: str | None = None  # Redis: commands are counted

    def pids(self) -> list[int]:
        return [self.api_pid, *self.worker_pids]

    def counters(self) -> dict[str, Any]:
        """Running totals: CPU seconds of each process, and transactions and Redis commands where there are."""
        counts = {f"cpu_{n}": cpu_seconds(pid) for n, pid in enumerate(self.pids())}
        if self.database_url:
            counts["database_transactions"] = database_transactions(self.database_url)
        if self.redis_url:
            counts["redis_commands"] = redis_commands(self.redis_url)
        return counts


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_transactions(url: str) -> int:
    """Transactions committed or rolled back in the database so far (PostgreSQL's statistics, which each backend
    reports when it goes idle: wait a moment before reading the last ones)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()")).scalar())
    finally:
        engine.dispose()


def redis_commands(url: str) -> dict[str, int]:
    """Commands Redis has run so far, by name."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        return {name.removeprefix("cmdstat_"): int(stats["calls"])
                for name, stats in client.info("commandstats").items()}
    finally:
        client.close()


def counted(running: Running, work) -> tuple[object, dict[str, float]]:
    """`work()` and what it cost in the counters, less what the processes do when idle (heartbeats, polling
    brokers), measured over as long an idle moment first. PostgreSQL's statistics are given time to arrive."""
    settle = STATS_SETTLE_S if running.database_url else 1.0
    time.sleep(settle)
    start, t0 = flat(running.counters()), time.monotonic()
    time.sleep(settle)
    idle, t1 = flat(running.counters()), time.monotonic()
    result = work()
    time.sleep(settle)
    end, t2 = flat(running.counters()), time.monotonic()
    scale = (t2 - t1) / (t1 - t0)
    return result, {key: (end[key] - idle.get(key, 0)) - (idle.get(key, 0) - start.get(key, 0)) * scale
                    for key in end}


def flat(counters: dict) -> dict[str, float]:
    """{"redis_commands": {"get": 3}} -> {"redis_commands": 3, "redis_get": 3}"""
    out: dict[str, float] = {}
    for key, value in counters.items():
        if isinstance(value, dict):
            out[key] = sum(value.values())
            out.update({f"redis_{name}": count for name, count in value.items()})
        else:
            out[key] = value
    return out


def start_embedded(stack: ExitStack, args, root: Path) -> Running:
    home, port = root / "embedded", free_port()
    link_models(home, root)
    server = start_server(home, port, server_settings(args))
    stack.callback(stop, server)
    return Running(f"http://{HOST}:{port}", server.pid)


def start_distributed(stack: ExitStack, args, root: Path) -> Running:
    redis_url = stack.enter_context(redis_server(root))
    database_url = stack.enter_context(fresh_database())
    settings = {**server_settings(args), "PHOTOGEN_QUEUE": "celery", "PHOTOGEN_BROKER_URL": redis_url,
                "PHOTOGEN_EVENTS_URL": redis_url, "PHOTOGEN_DATABASE_URL": database_url,
                "PHOTOGEN_BLOB_URL": str(root / "distributed-blobs"), "PHOTOGEN_WEBHOOK_SECRET": "bench"}
    api_home, port = root / "api", free_port()
    link_models(api_home, root)
    api = start_server(api_home, port, settings, "--no-worker")  # migrates the new database first
    stack.callback(stop, api)
    running = Running(f"http://{HOST}:{port}", api.pid, database_url=database_url, redis_url=redis_url)
    gpus = [g for g in args.worker_gpus.split(",") if g] if args.worker_gpus else []
    started = []
    for n in range(args.workers):
        home = root / f"worker{n}"
        link_models(home, root)
        worker = start_worker(home, settings, *(["--gpu", gpus[n % len(gpus)]] if gpus else []))
        stack.callback(stop, worker)
        started.append((worker, home))
    for worker, home in started:
        wait_ready(worker, home)
        running.worker_pids.append(worker.pid)
        running.worker_logs.append(home / "worker.log")
    return running


def link_models(home: Path, root: Path) -> None:
    """Every process reads the models from one folder (the tiny model is built there once, under a lock)."""
    home.mkdir(parents=True, exist_ok=True)
    (root / "models").mkdir(exist_ok=True)
    (home / "models").symlink_to(root / "models")


def jobs_ran(log: Path) -> int:
    """Jobs a worker ran, from Celery's 'Task photogen.run_queued[...] succeeded in ...: N' lines."""
    return sum(int(n) for n in re.findall(r"photogen\.run_queued\[[^\]]+\] succeeded in [0-9.]+s: (\d+)",
                                          log.read_text(errors="replace")))


def concurrently(url: str, clients: int, requests_each: int, body_for) -> tuple[list[dict], float]:
    """`clients` threads, each with its own connection, making `requests_each` requests one after the other."""
    done: list[dict] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        with httpx.Client(base_url=url, timeout=600.0) as http:
            barrier.wait()
            for r in range(requests_each):
                result = one_request(http, body_for(index, r))
                with lock:
                    done.append(result)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return done, time.perf_counter() - start


def run_mode(mode: str, args, root: Path, jpeg: bytes) -> dict:
    body = {"prompt": "a studio portrait", "steps": args.steps, "image_strength": args.image_strength,
            "guidance": args.guidance, "seed": 1, "aspect_ratio": "1:1"}
    with ExitStack() as stack:
        running = (start_distributed if mode == "distributed" else start_embedded)(stack, args, root)
        idle_rss = rss_mb(running.api_pid)
        with httpx.Client(base_url=running.url, timeout=600.0) as http:
            if args.source == "upload":
                upload = http.post("/v1/uploads", files={"file": ("photo.jpg", jpeg, "image/jpeg")})
                body["upload_id"] = upload.raise_for_status().json()["id"]
            else:
                body["image"] = base64.b64encode(jpeg).decode()
            one_request(http, body)  # loads the model (embedded: the only worker)
            # every worker loads its model before anything is timed
            for _ in range(5):
                if all(jobs_ran(log) for log in running.worker_logs):
                    break
                concurrently(running.url, args.max_batch * len(running.worker_logs), 1,
                             lambda i, r: {**body, "seed": 10_000 + i})
            # 1. one client at a time: nothing queued, the overhead around the model
            alone, costs = counted(running, lambda: [one_request(http, {**body, "seed": k})
                                                     for k in range(args.sequential)])
        # 2. N concurrent clients
        guidance = (lambda i: args.guidance) if args.same_guidance else (lambda i: 5.0 + i % 4)
        loaded, wall = concurrently(running.url, args.clients, args.requests_per_client,
                                    lambda i, r: {**body, "seed": 100 * i + r, "guidance": guidance(i)})
        rss = {"api_idle": idle_rss, "api": rss_mb(running.api_pid),
               "workers": [rss_mb(pid) for pid in running.worker_pids]}
    per_request = {key: value / len(alone) for key, value in costs.items()}
    return {"summary": summarize(args, alone, loaded, wall, rss, per_request), "alone": alone, "loaded": loaded}


def summarize(args, alone: list[dict], loaded: list[dict], wall: float, rss: dict, per_request: dict) -> dict:
    window = args.batch_window_ms / 1000

    def median_ms(rows: list[dict], value) -> float:
        return 1000 * statistics.median(value(row) for row in rows)

    def timing(name: str):
        return lambda row: row["timings"].get(f"{name}_ms", 0.0) / 1000

    latencies = sorted(row["latency"] for row in loaded)
    return {
        "clients": args.clients,
        "images": len(loaded),
        "images_per_s": len(loaded) / wall,
        "p50_ms": 1000 * percentile(latencies, 0.5),
        "p95_ms": 1000 * percentile(latencies, 0.95),
        "one_client_images_per_s": 1 / statistics.median(row["latency"] for row in alone),
        "model_ms": median_ms(alone, lambda row: row["model"]),
        "overhead_ms": median_ms(alone, lambda row: row["latency"] - row["model"] - window),
        "overhead_parts_ms": {
            "post": median_ms(alone, lambda row: row["post"]),
            "queue_beyond_window": median_ms(alone, lambda row: row["queued"] - window),
            "worker_beyond_model": median_ms(alone, lambda row: row["worker"] - row["model"]),
            "told": median_ms(alone, lambda row: row["told"]),
            "read_job": median_ms(alone, lambda row: row["read_job"]),
            "download": median_ms(alone, lambda row: row["download"]),
        },
        "worker_phases_ms": {name: median_ms(alone, timing(name))
                             for name in ("source", "prepare", "callbacks", "result", "encode", "store")},
        "loaded_medians_ms": {key: median_ms(loaded, lambda row, k=key: row[k])
                              for key in ("post", "queued", "worker", "told", "download")},
        "batch_sizes": sorted({row["timings"].get("batch") for row in loaded if row["timings"].get("batch")}),
        # one client at a time, per request: CPU of the API process (cpu_0) and of each worker (cpu_1...), in ms
        # (embedded: the one process, model included); database transactions and Redis commands (distributed)
        "costs_per_request": {key: 1000 * value if key.startswith("cpu_") else value
                              for key, value in per_request.items()},
        "rss_mb": rss,
    }


def percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def save_random_model(name: str, models: Path) -> str:
    """The full-size SD 1.5 or SDXL architecture with random weights, saved as a diffusers folder."""
    import gc

    import torch
    from engine import build_pipeline  # bench/engine.py, beside this file

    folder = models / f"random-{name}"
    pipe = build_pipeline(name, tiny=False)
    pipe.save_pretrained(folder, safe_serialization=True)
    del pipe
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return str(folder)


# -- the report --------------------------------------------------------------------------------------------

def report(args, results: dict[str, dict]) -> None:
    names = {"embedded": "embedded", "distributed": f"distributed, {args.workers} worker(s)"}
    modes = list(results)
    summaries = [results[mode]["summary"] for mode in modes]
    width = 66

    def row(label: str, value) -> None:
        print(f"{label:{width}s}" + "".join(f"{value(s):>26s}" for s in summaries))

    def ms(value: float) -> str:
        return f"{value:.1f}"

    print(f"\n{'what':{width}s}" + "".join(f"{names[mode]:>26s}" for mode in modes))
    row(f"images/s, {args.clients} concurrent clients", lambda s: f"{s['images_per_s']:.2f}")
    row("images/s, one client at a time", lambda s: f"{s['one_client_images_per_s']:.2f}")
    row(f"latency p50 / p95 with {args.clients} clients (ms)", lambda s: f"{s['p50_ms']:.0f} / {s['p95_ms']:.0f}")
    row("batch sizes under load", lambda s: ", ".join(map(str, s["batch_sizes"])))
    row("model time per request, worker-measured (ms)", lambda s: ms(s["model_ms"]))
    row("overhead per request excl. model and batch window, median (ms)", lambda s: ms(s["overhead_ms"]))
    parts = {"post": "POST /v1/generations round trip", "queue_beyond_window": "queued, beyond the batch window",
             "worker_beyond_model": "on the worker, beyond the model", "told": "job's end to the client's SSE event",
             "read_job": "GET /v1/jobs/{id}", "download": "PNG download"}
    for key, label in parts.items():
        row(f"  {label} (ms)", lambda s, k=key: ms(s["overhead_parts_ms"][k]))
    for key in ("source", "prepare", "callbacks", "result", "encode", "store"):
        row(f"    worker: {key} (ms)", lambda s, k=key: ms(s["worker_phases_ms"][k]))
    row("CPU per request alone, model included: API / workers (ms)", lambda s: " / ".join(
        f"{s['costs_per_request'][k]:.0f}" for k in sorted((k for k in s["costs_per_request"] if k.startswith("cpu_")),
                                                           key=lambda k: int(k[4:]))))
    row("database transactions per request (PostgreSQL)",
        lambda s: f"{s['costs_per_request'].get('database_transactions', float('nan')):.1f}")
    row("Redis commands per request",
        lambda s: f"{s['costs_per_request'].get('redis_commands', float('nan')):.1f}")
    row("API process RSS idle / at the end (MB)", lambda s: f"{s['rss_mb']['api_idle'] or 0:.0f} / {s['rss_mb']['api'] or 0:.0f}")
    row("worker process RSS at the end (MB)",
        lambda s: ", ".join(f"{r or 0:.0f}" for r in s["rss_mb"]["workers"]) or "(in the API process)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests-per-client", type=int, default=2)
    parser.add_argument("--sequential", type=int, default=12, help="one-at-a-time requests for the overhead figure")
    parser.add_argument("--workers", type=int, default=0,
                        help="also run the distributed mode with this many `photogen worker` processes")
    parser.add_argument("--modes", default="", help="comma-separated subset of embedded,distributed to run "
                        "(default: embedded, and distributed with --workers)")
    parser.add_argument("--worker-gpus", default="", help="GPU indexes the workers take in turn, e.g. 0,1")
    parser.add_argument("--model", default="tiny", help="tiny, random-sd15, random-sdxl, a folder, a file, a hub id")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--image-strength", type=float, default=0.5)
    parser.add_argument("--guidance", type=float, default=7.0)
    parser.add_argument("--max-batch", type=int, default=8, help="PHOTOGEN_MAX_BATCH_IMAGES of the workers")
    parser.add_argument("--batch-window-ms", type=float, default=25.0, help="PHOTOGEN_BATCH_WINDOW_MS (its default)")
    parser.add_argument("--source", choices=["upload", "inline"], default="upload",
                        help="name one upload in every request, or send the photo inline each time")
    parser.add_argument("--same-guidance", action="store_true",
                        help="every client at --guidance (by default clients use 5, 6, 7 and 8)")
    parser.add_argument("--server-src", default=None,
                        help="run the photogen processes from this source folder (e.g. an older commit's src, "
                             "exported with git archive) for a before/after comparison; it must report the "
                             "model's time on the success event (photogen.runner.timings)")
    parser.add_argument("--idle-rss", action="store_true",
                        help="only measure an API node's memory (serve --no-worker): idle, after requests, after an upload")
    args = parser.parse_args()
    if args.idle_rss:
        api_node_memory(args)
        return

    load_before = os.getloadavg()
    jpeg = source_jpeg()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="photogen-bench-") as folder:
        root = Path(folder)
        if args.model.startswith("random-"):
            args.model = save_random_model(args.model.removeprefix("random-"), root / "models")
        modes = args.modes.split(",") if args.modes else ["embedded"] + (["distributed"] if args.workers else [])
        if "distributed" in modes and args.workers < 1:
            parser.error("the distributed mode needs --workers N")
        for mode in modes:
            print(f"{mode}: running", flush=True)
            results[mode] = run_mode(mode, args, root, jpeg)
    report(args, results)

    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    import torch

    record = {"benchmark": "server", "when": stamp, "args": vars(args),
              "machine": {"cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                          "load_average_before_after": [load_before, os.getloadavg()],
                          "python": platform.python_version(), "torch": torch.__version__,
                          "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None},
              "modes": results}  # fmt: skip
    path = RESULTS / f"server-{stamp}.json"
    path.write_text(json.dumps(record, indent=2), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
