from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from photogen.api.app import create_app
from photogen.config import Settings
from photogen.container import build_container

FAST = {"steps": 4, "image_strength": 0.5, "seed": 1234}


def make_settings(home: Path, shared_models: Path, **values) -> Settings:
    # The in-process client calls itself "testserver": a Host name the server must be told to answer.
    values = {"allowed_hosts": ["testserver"], **values}
    settings = Settings(home=home, device="cpu", dtype="float32", offline=True, webhook_secret="test-secret", **values)
    # Reuse the session's tiny model instead of building one per test.
    (home / "models").parent.mkdir(parents=True, exist_ok=True)
    if not (home / "models").exists():
        (home / "models").symlink_to(shared_models)
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


def wait_for(client: TestClient, job_id: str, timeout: float = 60.0, headers=None) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if job["state"] in ("succeeded", "failed", "canceled"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def build(settings: Settings, worker: bool):
    return build_container(settings, worker=worker)
