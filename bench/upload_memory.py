"""Server memory under hostile uploads: a real `photogen serve` process, 16 concurrent uploads of files made to
cost memory, its resident set sampled before, during and after.

    .venv/bin/python bench/upload_memory.py [--uploads 16] [--server-src DIR]

Target (the hardening issue): 16 concurrent hostile uploads keep the server's RSS under 1.5 GB, and it comes
back near its baseline afterwards. `--server-src` runs the server from another source tree (e.g. an older
commit exported with `git archive`) for a before/after comparison. Prints a table, writes JSON to bench/results/.

The files, round robin:
  - rgba16: a 7000x7000 RGBA PNG with 16-bit samples, flat, about 390 KB on disk (392 MB counted decoded);
  - jpeg49mp: a real 7000x7000 JPEG (49 MP, just under the 50 MP pixel limit), a smooth gradient;
  - bomb: a 7000x7000 all-black 8-bit RGB PNG, about 150 KB on disk, 147 MB decoded.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import struct
import tempfile
import threading
import time
import zlib
from datetime import datetime, timezone
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from serving import HOST, free_port, start_server  # bench/serving.py, beside this script

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_MB = 1536.0


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png(side: int, row: bytes, bit_depth: int, colour: int) -> bytes:
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, bit_depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def hostile_files(side: int = 7000) -> dict[str, bytes]:
    rgba16 = _png(side, b"\x00" + b"\x12\x34\x56\x78\x9a\xbc\xff\xff" * side, 16, 6)
    bomb = _png(side, b"\x00" * (3 * side + 1), 8, 2)
    ramp = np.linspace(0, 255, side, dtype=np.float32)
    gradient = np.stack([np.add.outer(ramp, ramp) / 2, np.tile(ramp, (side, 1)), np.tile(ramp[:, None], (1, side))], -1)
    buffer = io.BytesIO()
    Image.fromarray(gradient.astype(np.uint8)).save(buffer, "JPEG", quality=85)
    return {"rgba16": rgba16, "jpeg49mp": buffer.getvalue(), "bomb": bomb}


def server_settings(args) -> dict[str, str]:
    settings = {"PHOTOGEN_WORKER_ENABLED": "false", "PHOTOGEN_DEVICE": "cpu", "OMP_WAIT_POLICY": "PASSIVE"}
    if args.server_src:
        settings["PYTHONPATH"] = args.server_src
    if args.max_decoded_bytes:
        settings["PHOTOGEN_MAX_DECODED_BYTES"] = str(args.max_decoded_bytes)
    return settings


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (resident now) and VmHWM (resident peak since start) of the process, in MB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            found[line.split(":")[0]] = int(line.split()[1]) / 1024
    return found


class Sampler(threading.Thread):
    """VmRSS every `every_s` seconds until stopped."""

    def __init__(self, pid: int, every_s: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.every_s = pid, every_s
        self.samples: list[tuple[float, float]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        while not self.stopped.is_set():
            self.samples.append((time.monotonic() - start, memory_mb(self.pid)["VmRSS"]))
            self.stopped.wait(self.every_s)


def upload(base: str, name: str, data: bytes) -> dict:
    kind = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
    started = time.perf_counter()
    with httpx.Client(base_url=base, timeout=600) as http:
        response = http.post("/v1/uploads", files={"file": (name, data, kind)})
    body = response.json()
    code = body.get("error", {}).get("code") if response.status_code >= 400 else "created"
    return {"file": name, "status": response.status_code, "code": code, "seconds": time.perf_counter() - started}


def run(args) -> dict:
    files = hostile_files()
    names = list(files)
    with tempfile.TemporaryDirectory(prefix="photogen-upload-memory-") as tmp:
        home = Path(tmp)
        port = free_port()
        server = start_server(home, port, server_settings(args))
        base = f"http://{HOST}:{port}"
        try:
            # 1. warm up with one ordinary photo (imports OpenCV, the face detector), then the baseline
            small = io.BytesIO()
            Image.fromarray(np.full((480, 640, 3), 128, np.uint8)).save(small, "JPEG")
            warm = upload(base, "warm.jpg", small.getvalue())
            assert warm["status"] == 201, warm
            time.sleep(1.0)
            baseline = memory_mb(server.pid)["VmRSS"]
            # 2. the hostile uploads, all at once, RSS sampled every 50 ms
            sampler = Sampler(server.pid)
            sampler.start()
            results: list[dict] = []
            lock = threading.Lock()

            def one(i: int) -> None:
                name = names[i % len(names)]
                outcome = upload(base, f"{name}-{i}", files[name])
                with lock:
                    results.append(outcome)

            started = time.perf_counter()
            threads = [threading.Thread(target=one, args=(i,)) for i in range(args.uploads)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - started
            # 3. after: let the server settle, keep sampling
            sampler.stopped.wait(args.settle_s)
            sampler.stopped.set()
            sampler.join()
            final = memory_mb(server.pid)
        finally:
            server.terminate()
            server.wait(30)
    during = [rss for t, rss in sampler.samples if t <= wall]
    return {
        "uploads": args.uploads,
        "server_src": args.server_src or "this checkout",
        "max_decoded_bytes": args.max_decoded_bytes,
        "file_bytes": {name: len(data) for name, data in files.items()},
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_mb_sampled": round(max(during, default=baseline), 1),
        "peak_rss_mb_hwm": round(final["VmHWM"], 1),
        "after_rss_mb": round(final["VmRSS"], 1),
        "settle_s": args.settle_s,
        "wall_s": round(wall, 2),
        "outcomes": sorted(results, key=lambda r: r["file"]),
        "target_peak_mb": TARGET_MB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=16)
    parser.add_argument("--settle-s", type=float, default=3.0, help="How long to keep sampling after the last answer.")
    parser.add_argument("--server-src", default=None, help="Run the server from this source folder (PYTHONPATH).")
    parser.add_argument("--max-decoded-bytes", type=int, default=None,
                        help="PHOTOGEN_MAX_DECODED_BYTES for the server (e.g. 500000000 lets the 16-bit PNG decode).")
    args = parser.parse_args()
    record = run(args)
    record.update(date=datetime.now(timezone.utc).isoformat(timespec="seconds"), python=platform.python_version(),
                  cpus=os.cpu_count())
    counts: dict[tuple[str, int, str], int] = {}
    for outcome in record["outcomes"]:
        key = (outcome["file"].rsplit("-", 1)[0], outcome["status"], outcome["code"])
        counts[key] = counts.get(key, 0) + 1
    print(f"{record['uploads']} concurrent uploads, server from {record['server_src']}, "
          f"PHOTOGEN_MAX_DECODED_BYTES={record['max_decoded_bytes'] or 'default'}, {record['wall_s']} s")
    print("| file | bytes | status | code | count |")
    print("|---|---|---|---|---|")
    for (name, status, code), count in sorted(counts.items()):
        print(f"| {name} | {record['file_bytes'][name]:,} | {status} | {code} | {count} |")
    print()
    print("| server RSS (MB) | value |")
    print("|---|---|")
    for label, key in (("baseline (after one ordinary upload)", "baseline_rss_mb"),
                       ("peak during, sampled every 50 ms", "peak_rss_mb_sampled"),
                       ("peak since start (VmHWM)", "peak_rss_mb_hwm"),
                       (f"after, {record['settle_s']:.0f} s later", "after_rss_mb")):
        print(f"| {label} | {record[key]:.0f} |")
    verdict = "met" if record["peak_rss_mb_hwm"] < TARGET_MB else "missed"
    print(f"\ntarget: peak under {TARGET_MB:.0f} MB: {verdict}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    path = RESULTS / f"upload-memory-{stamp}.json"
    path.write_text(json.dumps(record, indent=2), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
