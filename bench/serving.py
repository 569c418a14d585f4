"""A real `photogen serve` for the benchmarks: a free port on 127.0.0.1, a log in its home, ready on /v1/health."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def start_server(home: Path, port: int, settings: dict[str, str], *args: str) -> subprocess.Popen:
    """`photogen serve` with only `settings` of the PHOTOGEN_ environment (and whatever else `settings` names)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOGEN_")}
    env.update(PHOTOGEN_HOME=str(home), PHOTOGEN_HOST=HOST, PHOTOGEN_PORT=str(port), **settings)
    with open(home / "server.log", "wb") as log:  # the child keeps its own copy of the handle
        server = subprocess.Popen([sys.executable, "-m", "photogen", "serve", "--host", HOST, "--port", str(port),
                                   *args], env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"photogen serve exited with {server.returncode}; see {home / 'server.log'}")
        try:
            if httpx.get(f"http://{HOST}:{port}/v1/health", timeout=1.0).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.terminate()
    sys.exit("photogen serve did not answer /v1/health within 120 s")
