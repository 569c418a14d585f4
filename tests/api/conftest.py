from __future__ import annotations

import base64
import io
import os
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from photogen.api.app import create_app
from photogen.config import Settings
from photogen.container import build_container
from tests.databases import seed_database

FAST = {"steps": 4, "image_strength": 0.5, "seed": 1234}


def make_settings(home: Path, shared_models: Path, **values) -> Settings:
    # The in-process client calls itself "testserver": a Host name the server must be told to answer.
    values = {"allowed_hosts": ["testserver"], **values}
    settings = Settings(home=home, device="cpu", dtype="float32", offline=True, webhook_secret="test-secret", **values)
    # Reuse the session's tiny model instead of building one per test.
    (home / "models").parent.mkdir(parents=True, exist_ok=True)
    if not (home / "models").exists():
        (home / "models").symlink_to(shared_models)
    if settings.database_url is None:  # the session's migrated SQLite database instead of migrating an empty one
        seed_database(home, shared_models.parent)
    return settings


@pytest.fixture
def server_settings(tmp_path, settings, tiny) -> Settings:
    return make_settings(tmp_path / "home", settings.models_dir)


@pytest.fixture
def api(server_settings):
    with TestClient(create_app(server_settings)) as client:
        yield client


@pytest.fixture
def container_of():
    return lambda client: client.app.state.container


@pytest.fixture(scope="session")
def astronaut_bytes(astronaut_jpeg) -> bytes:
    return astronaut_jpeg.read_bytes()


@pytest.fixture(scope="session")
def astronaut_b64(astronaut_bytes) -> str:
    return base64.b64encode(astronaut_bytes).decode()


# Waits end when their condition holds; the deadline only catches a worker that hangs. It is generous because a
# 2-core machine with other work runs the tiny model many times slower than an idle one.
WAIT_DEADLINE_S = float(os.environ.get("PHOTOGEN_TEST_WAIT_S", "900"))
TERMINAL = ("succeeded", "failed", "canceled")


def wait_for(client: TestClient, job_id: str, timeout: float = WAIT_DEADLINE_S, headers=None) -> dict:
    """The job once it has ended: the server's live events say when; its state is then read from the API."""
    events = client.app.state.container.events
    deadline = time.monotonic() + timeout
    seen = 0
    while True:
        news = events.since(job_id, seen)
        seen += len(news)
        if any(e["event"] == "state" and e["state"] in TERMINAL for e in news) or not seen:
            job = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
            if job["state"] in TERMINAL:
                return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not end within {timeout:g} s: {events.since(job_id, 0)[-3:]}")
        time.sleep(0.02)


def build(settings: Settings, worker: bool):
    return build_container(settings, worker=worker)


@contextmanager
def fresh_postgres():
    """A fresh PostgreSQL database on the local server, dropped afterwards (skipped where none is reachable,
    except on CI)."""
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


@pytest.fixture
def postgres_url():
    """A fresh PostgreSQL database on the local server, dropped afterwards."""
    with fresh_postgres() as url:
        yield url


def upload_image(client: TestClient, image, name: str = "photo.png", headers=None) -> dict:
    """A Pillow image uploaded as a PNG; the upload as the API answers it."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    response = client.post("/v1/uploads", files={"file": (name, buffer.getvalue(), "image/png")}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()
