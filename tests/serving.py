"""A real `python -m photogen serve` process for tests: a free port, a log file, ready once /v1/health answers."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

START_DEADLINE_S = 180.0  # only catches a server that never comes up; a loaded 2-core machine is slow to import torch


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServeProcess:
    url: str
    port: int
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text()


def start_serve(env: dict, *args: str, log: Path, port: int | None = None) -> ServeProcess:
    """`photogen serve --port P *args` with `env`, returned once /v1/health answers; on a free port unless `port`
    is given (a restart on the port a killed server had)."""
    port = port or free_port()
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "photogen", "serve", "--port", str(port), *args],
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    served = ServeProcess(f"http://127.0.0.1:{port}", port, process, log)
    try:
        deadline = time.monotonic() + START_DEADLINE_S
        while True:
            try:
                if httpx.get(f"{served.url}/v1/health", timeout=2).status_code == 200:
                    return served
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"photogen serve did not start:\n{served.output()[-4000:]}")
            time.sleep(0.2)
    except BaseException:
        stop_serve(served)
        raise


def stop_serve(served: ServeProcess) -> None:
    """Terminate, then kill when it does not stop; nothing to do when it has ended already."""
    served.process.terminate()
    try:
        served.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        served.process.kill()
        served.process.wait(timeout=10)


@contextmanager
def serve_process(env: dict, *args: str, log: Path, port: int | None = None) -> Iterator[ServeProcess]:
    """`photogen serve --port P *args` with `env`; stopped (terminate, then kill) when the block ends."""
    served = start_serve(env, *args, log=log, port=port)
    try:
        yield served
    finally:
        stop_serve(served)
