"""Overhead per request of two source trees side by side, embedded mode, the requests interleaved.

    PYTHONPATH=src .venv/bin/python bench/server_ab.py --before-src /path/to/other/checkout/src

On a shared machine the speed drifts by tens of percent between runs minutes apart, more than a change to the
request path moves the overhead. Here two `photogen serve` processes (tiny model, SQLite, local blobs, the
in-process worker) run at once, one on --before-src and one on --after-src (default: this checkout's src), and
one client alternates between them (A B, then B A, ...), so a drift falls on both alike. Each request is the
one bench/server.py times (POST naming an uploaded photo, the end on SSE, GET the job, download the PNG); the
table gives the median of each part over --requests requests per side.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path

import httpx

from server import link_models, one_request, source_jpeg  # bench/server.py, beside this script
from serving import HOST, free_port, start_server, stop

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before-src", required=True, help="the source tree (its src folder) to compare against")
    parser.add_argument("--after-src", default=str(HERE.parent / "src"), help="default: this checkout's src")
    parser.add_argument("--requests", type=int, default=16, help="requests per side, one at a time")
    parser.add_argument("--batch-window-ms", type=float, default=25.0)
    args = parser.parse_args()
    sides = {"before": str(Path(args.before_src).resolve()), "after": str(Path(args.after_src).resolve())}
    jpeg = source_jpeg()
    with tempfile.TemporaryDirectory(prefix="photogen-ab-") as folder, ExitStack() as stack:
        root = Path(folder)
        clients, bodies = {}, {}
        for name, src in sides.items():
            home, port = root / name, free_port()
            link_models(home, root)
            server = start_server(home, port, {
                "PHOTOGEN_DEFAULT_MODEL": "tiny", "PHOTOGEN_DEVICE": "cpu", "PHOTOGEN_MAX_BATCH_IMAGES": "8",
                "PHOTOGEN_BATCH_WINDOW_MS": f"{args.batch_window_ms:g}", "PYTHONPATH": src})
            stack.callback(stop, server)
            http = clients[name] = stack.enter_context(httpx.Client(base_url=f"http://{HOST}:{port}", timeout=600.0))
            upload = http.post("/v1/uploads", files={"file": ("photo.jpg", jpeg, "image/jpeg")}).raise_for_status()
            bodies[name] = {"prompt": "a studio portrait", "steps": 4, "image_strength": 0.5, "guidance": 7.0,
                            "seed": 1, "aspect_ratio": "1:1", "upload_id": upload.json()["id"]}
            for k in range(2):  # loads the model; the first requests of a process are slower
                one_request(http, {**bodies[name], "seed": 900 + k})
        rows: dict[str, list[dict]] = {name: [] for name in sides}
        for k in range(args.requests):
            for name in (list(sides) if k % 2 == 0 else list(sides)[::-1]):
                rows[name].append(one_request(clients[name], {**bodies[name], "seed": k}))
    window = args.batch_window_ms / 1000
    parts = {
        "model time per request, worker-measured": lambda r: r["model"],
        "overhead per request excl. model and batch window": lambda r: r["latency"] - r["model"] - window,
        "  POST /v1/generations round trip": lambda r: r["post"],
        "  queued, beyond the batch window": lambda r: r["queued"] - window,
        "  on the worker, beyond the model": lambda r: r["worker"] - r["model"],
        "  job's end to the client's SSE event": lambda r: r["told"],
        "  GET /v1/jobs/{id}": lambda r: r["read_job"],
        "  PNG download": lambda r: r["download"],
    }
    for phase in ("callbacks", "result", "encode", "store"):
        parts[f"    worker: {phase}"] = lambda r, p=phase: r["timings"].get(f"{p}_ms", 0.0) / 1000
    print(f"{'median ms, ' + str(args.requests) + ' requests per side':56s}{'before':>10s}{'after':>10s}")
    for label, value in parts.items():
        print(f"{label:56s}" + "".join(f"{1000 * statistics.median(value(r) for r in rows[n]):10.1f}" for n in sides))


if __name__ == "__main__":
    main()
