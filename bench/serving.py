"""Real photogen processes for the benchmarks, each with a log in its home.

- `start_server`: `photogen serve` on a free port on 127.0.0.1, ready once /v1/health answers;
- `redis_server`: a redis-server on a free port, without persistence (as tests/redis_server.py starts one);
- `fresh_database`: a new PostgreSQL database on the local server, dropped afterwards;
- `start_worker`: a `photogen worker` (Celery, concurrency 1), ready once Celery says so.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

HOST = "127.0.0.1"
POSTGRES = os.environ.get("PHOTOGEN_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
START_DEADLINE_S = 300.0  # a loaded 2-core machine is slow to import torch


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def photogen_env(home: Path, settings: dict[str, str]) -> dict[str, str]:
    """The environment without any PHOTOGEN_ setting of the caller's, plus a home and `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOGEN_")}
    home.mkdir(parents=True, exist_ok=True)
    env.update(PHOTOGEN_HOME=str(home), **settings)
    return env


def start_server(home: Path, port: int, settings: dict[str, str], *args: str) -> subprocess.Popen:
    """`photogen serve` with only `settings` of the PHOTOGEN_ environment (and whatever else `settings` names)."""
    env = photogen_env(home, {"PHOTOGEN_HOST": HOST, "PHOTOGEN_PORT": str(port), **settings})
    with open(home / "server.log", "wb") as log:  # the child keeps its own copy of the handle
        server = subprocess.Popen([sys.executable, "-m", "photogen", "serve", "--host", HOST, "--port", str(port),
                                   *args], env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + START_DEADLINE_S
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
    sys.exit(f"photogen serve did not answer /v1/health within {START_DEADLINE_S:g} s")


def start_worker(home: Path, settings: dict[str, str], *args: str) -> subprocess.Popen:
    """`photogen worker` (one process, one job group at a time); see `wait_ready`."""
    env = photogen_env(home, settings)
    with open(home / "worker.log", "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "photogen", "worker", "--concurrency", "1", *args],
                                env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(worker: subprocess.Popen, home: Path) -> None:
    """Until Celery says the worker consumes (it has registered with the database before that)."""
    deadline = time.monotonic() + START_DEADLINE_S
    log = home / "worker.log"
    while " ready." not in log.read_text(errors="replace"):
        if worker.poll() is not None:
            sys.exit(f"photogen worker exited with {worker.returncode}; see {log}")
        if time.monotonic() > deadline:
            sys.exit(f"photogen worker was not ready within {START_DEADLINE_S:g} s; see {log}")
        time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """The URL of a redis-server on a free port that runs until the block ends."""
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    server = subprocess.Popen([binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
                               "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"redis://{HOST}:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"redis-server did not start on port {port}")
                time.sleep(0.05)
        yield url
    finally:
        client.close()
        stop(server)


@contextmanager
def fresh_database(base: str = POSTGRES) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database on the server of `base`, dropped when the block ends."""
    from sqlalchemy import create_engine, text

    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"photogen_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 (say why in a word and stop)
        sys.exit(f"cannot create a database on {base.rsplit('@', 1)[-1]} ({type(exc).__name__}); "
                 "set PHOTOGEN_BENCH_POSTGRES to a server where user may CREATE DATABASE")
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
