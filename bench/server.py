"""Concurrent clients against a real `photogen serve` process on 127.0.0.1: throughput, latency, overhead.

    .venv/bin/python bench/server.py                      # tiny model, 16 clients, CPU-sized steps
    .venv/bin/python bench/server.py --model random-sd15 --steps 40 --image-strength 0.25   # GPU host

`--model` is anything PHOTOGEN_DEFAULT_MODEL takes, or `random-sd15` / `random-sdxl`: the full-size
architectures with random weights (as bench/engine.py builds them), saved once as a diffusers folder
under the server's temporary home.

Each request goes the whole way: JSON in (naming a photo uploaded once, or with `--source inline` the photo
itself in base64, so intake's decode and preflight count too), a queued job, the worker's batch, PNG out. A client waits on the job's Server-Sent Events, then reads the job and
downloads its PNG. The server runs in its own process with a fresh home under a temporary folder.

Reported:
  - images/s and p50/p95 end-to-end latency with N concurrent clients;
  - server overhead per request excluding model time, from one client at a time (nothing queued):
    POST round trip + (started_at - created_at) + (finished_at - started_at - model time) + PNG download,
    where model time is the same request's `generate` measured in this process on the same machine.
    The wait for the SSE event that announces the end (the stream checks every 50 ms) is shown apart;
  - the server's resident memory before any model is loaded.

    .venv/bin/python bench/server.py --idle-rss           # an API node's memory: serve --no-worker
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from serving import HOST, free_port, start_server  # bench/serving.py, beside this script

RESULTS = Path(__file__).resolve().parent / "results"


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
    return {"PHOTOGEN_DEFAULT_MODEL": args.model, "PHOTOGEN_DEVICE": args.device,
            "PHOTOGEN_MAX_BATCH_IMAGES": str(args.max_batch)}


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
            server.terminate()
            server.wait(timeout=30)
    print(f"{'serve --no-worker':48s} {'RSS MB':>8s}  libraries mapped")
    for label, rss, libraries in rows:
        print(f"{label:48s} {rss or 0:8.0f}  {', '.join(libraries) or 'none of ' + ', '.join(heavy)}")


def seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def one_request(http: httpx.Client, body: dict) -> dict:
    """POST a generation, wait for its end on SSE, read the job and download the PNG; timings in seconds."""
    t0 = time.perf_counter()
    response = http.post("/v1/generations", json=body, headers={"Idempotency-Key": os.urandom(8).hex()})
    response.raise_for_status()
    job_id = response.json()["id"]
    t_submitted = time.perf_counter()
    with http.stream("GET", f"/v1/jobs/{job_id}/events") as events:
        for line in events.iter_lines():
            if line.startswith("data:") and json.loads(line[5:]).get("state") in ("succeeded", "failed", "canceled"):
                break
    t_announced = time.perf_counter()
    job = http.get(f"/v1/jobs/{job_id}").json()
    if job["state"] != "succeeded":
        raise RuntimeError(f"job {job_id} ended {job['state']}: {job.get('error')}")
    t_read = time.perf_counter()
    outputs = [a for a in job["assets"] if a["kind"] == "output"]
    png = http.get(f"/v1/assets/{outputs[0]['id']}/content").content
    t_done = time.perf_counter()
    return {
        "latency": t_done - t0,
        "submit": t_submitted - t0,
        "events": t_announced - t_submitted,
        "read_job": t_read - t_announced,
        "download": t_done - t_read,
        "queued": seconds_between(job["created_at"], job["started_at"]),
        "worker": seconds_between(job["started_at"], job["finished_at"]),
        "server_span": seconds_between(job["created_at"], job["finished_at"]),
        "png_bytes": len(png),
    }


def model_seconds(args, jpeg: bytes) -> float:
    """The engine's time for one request like the benchmark's, in this process (median of 7)."""
    from photogen.config import Settings
    from photogen.domain.params import GenerationRequest
    from photogen.engines.loader import load_generator
    from photogen.intake.decode import decode_image
    from photogen.services.generation import prepare_request

    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), device=args.device, default_model=args.model)
        generator = load_generator(args.model, settings)
        request = GenerationRequest(prompt="a studio portrait", seed=1, steps=args.steps, model=args.model,
                                    image_strength=args.image_strength, guidance=args.guidance)  # fmt: skip
        item, _ = prepare_request(decode_image(jpeg), request, generator)
        generator.generate([item])
        times = []
        for _ in range(7):
            start = time.perf_counter()
            generator.generate([item])
            times.append(time.perf_counter() - start)
    return statistics.median(times)


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


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests-per-client", type=int, default=2)
    parser.add_argument("--sequential", type=int, default=8, help="one-at-a-time requests for the overhead figure")
    parser.add_argument("--model", default="tiny", help="tiny, random-sd15, random-sdxl, a folder, a file, a hub id")
    parser.add_argument("--model-ms", type=float, default=None,
                        help="model time per request if already known (bench/engine.py), instead of measuring it here")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--image-strength", type=float, default=0.5)
    parser.add_argument("--guidance", type=float, default=7.0)
    parser.add_argument("--max-batch", type=int, default=8, help="PHOTOGEN_MAX_BATCH_IMAGES of the server")
    parser.add_argument("--source", choices=["upload", "inline"], default="upload",
                        help="name one upload in every request, or send the photo inline each time")
    parser.add_argument("--same-guidance", action="store_true",
                        help="every client at --guidance (by default clients use 5, 6, 7 and 8)")
    parser.add_argument("--idle-rss", action="store_true",
                        help="only measure an API node's memory (serve --no-worker): idle, after requests, after an upload")
    args = parser.parse_args()
    if args.idle_rss:
        api_node_memory(args)
        return

    jpeg = source_jpeg()
    body = {"prompt": "a studio portrait", "steps": args.steps, "image_strength": args.image_strength,
            "guidance": args.guidance, "seed": 1, "aspect_ratio": "1:1"}
    with tempfile.TemporaryDirectory(prefix="photogen-bench-") as folder:
        home, port = Path(folder), free_port()
        if args.model.startswith("random-"):
            args.model = save_random_model(args.model.removeprefix("random-"), home / "models")
        model_before = args.model_ms / 1000 if args.model_ms else model_seconds(args, jpeg)
        print(f"model time for one request: {1000 * model_before:.1f} ms", flush=True)
        server = start_server(home, port, server_settings(args))
        try:
            idle_rss = rss_mb(server.pid)
            with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=600.0) as http:
                if args.source == "upload":
                    upload = http.post("/v1/uploads", files={"file": ("photo.jpg", jpeg, "image/jpeg")})
                    body["upload_id"] = upload.raise_for_status().json()["id"]
                else:
                    body["image"] = base64.b64encode(jpeg).decode()
                one_request(http, body)  # loads the model
                loaded_rss = rss_mb(server.pid)
                # 1. one client at a time: nothing queued, the overhead around the model
                alone = [one_request(http, {**body, "seed": k}) for k in range(args.sequential)]
            # 2. N concurrent clients
            done: list[dict] = []
            lock = threading.Lock()
            barrier = threading.Barrier(args.clients + 1)

            def client(index: int) -> None:
                with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=600.0) as http:
                    barrier.wait()
                    for r in range(args.requests_per_client):
                        guidance = args.guidance if args.same_guidance else 5.0 + index % 4
                        result = one_request(http, {**body, "seed": 100 * index + r, "guidance": guidance})
                        with lock:
                            done.append(result)

            threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
            for thread in threads:
                thread.start()
            barrier.wait()
            start = time.perf_counter()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - start
        finally:
            server.terminate()
            server.wait(timeout=30)
        # the machine may be shared: measure again and keep the lower figure (the larger overhead)
        model_s = model_before if args.model_ms else min(model_before, model_seconds(args, jpeg))

    def median_ms(rows: list[dict], key: str) -> float:
        return 1000 * statistics.median(row[key] for row in rows)

    overhead = [row["submit"] + row["queued"] + (row["worker"] - model_s) + row["download"] for row in alone]
    observed = [row["latency"] - model_s for row in alone]
    images = len(done)
    summary = {
        "clients": args.clients,
        "images": images,
        "images_per_s": images / wall,
        "p50_ms": 1000 * percentile([r["latency"] for r in done], 0.5),
        "p95_ms": 1000 * percentile([r["latency"] for r in done], 0.95),
        "model_ms": 1000 * model_s,
        "outside_worker_ms_median": 1000 * statistics.median(r["submit"] + r["queued"] + r["download"] for r in alone),
        "server_overhead_ms_median": 1000 * statistics.median(overhead),
        "observed_minus_model_ms_median": 1000 * statistics.median(observed),
        "alone_breakdown_ms": {k: median_ms(alone, k) for k in ("submit", "queued", "worker", "events", "read_job", "download")},
        "loaded_breakdown_ms": {k: median_ms(done, k) for k in ("submit", "queued", "worker", "events", "download")},
        "one_client_images_per_s": 1 / statistics.median(r["latency"] for r in alone),
        "rss_mb": {"idle_no_model": idle_rss, "model_loaded": loaded_rss},
    }  # fmt: skip

    print(f"\n{'what':62s} {'value':>10s}")
    for label, value in [
        (f"images/s, {args.clients} concurrent clients", f"{summary['images_per_s']:.2f}"),
        ("images/s, one client at a time", f"{summary['one_client_images_per_s']:.2f}"),
        ("latency p50 / p95 under load (ms)", f"{summary['p50_ms']:.0f} / {summary['p95_ms']:.0f}"),
        ("model time per request, in process (ms)", f"{summary['model_ms']:.1f}"),
        ("server overhead per request excl. model, median (ms)", f"{summary['server_overhead_ms_median']:.1f}"),
        ("  of which outside the worker: POST + queue + PNG download (ms)", f"{summary['outside_worker_ms_median']:.1f}"),
        ("client-observed latency minus model, median (ms)", f"{summary['observed_minus_model_ms_median']:.1f}"),
        ("server RSS before / after loading the model (MB)", f"{idle_rss or 0:.0f} / {loaded_rss or 0:.0f}"),
    ]:
        print(f"{label:62s} {value:>10s}")
    print("one client, median ms: " + ", ".join(f"{k} {v:.1f}" for k, v in summary["alone_breakdown_ms"].items()))
    print("under load, median ms: " + ", ".join(f"{k} {v:.1f}" for k, v in summary["loaded_breakdown_ms"].items()))

    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    import torch

    record = {"benchmark": "server", "when": stamp, "args": vars(args),
              "machine": {"cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                          "python": platform.python_version(), "torch": torch.__version__,
                          "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None},
              "summary": summary, "alone": alone, "loaded": done}  # fmt: skip
    path = RESULTS / f"server-{stamp}.json"
    path.write_text(json.dumps(record, indent=2), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
