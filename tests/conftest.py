from __future__ import annotations

from photogen.runtime import configure_cpu_threads

configure_cpu_threads()  # before anything imports torch; server subprocesses inherit the environment

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from photogen.config import Settings  # noqa: E402
from photogen.engines.cache import ModelCache  # noqa: E402
from photogen.engines.loader import load_generator  # noqa: E402


@pytest.fixture(scope="session")
def photogen_home(tmp_path_factory) -> Path:
    """One home for the session, so the tiny model is built once."""
    return tmp_path_factory.mktemp("photogen-home")


@pytest.fixture(scope="session")
def settings(photogen_home: Path) -> Settings:
    return Settings(home=photogen_home, device="cpu", dtype="float32", offline=True)


@pytest.fixture(scope="session")
def models(settings: Settings) -> ModelCache:
    return ModelCache(lambda spec: load_generator(spec, settings))


@pytest.fixture(scope="session")
def tiny(models: ModelCache):
    return models.get("tiny")


@pytest.fixture(scope="session")
def astronaut_array() -> np.ndarray:
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def astronaut_jpeg(tmp_path_factory, astronaut_array) -> Path:
    """A real portrait (NASA, public domain) as a camera-style JPEG."""
    path = tmp_path_factory.mktemp("photos") / "astronaut.jpg"
    Image.fromarray(astronaut_array).save(path, quality=92)
    return path


@pytest.fixture(scope="session")
def coffee_png(tmp_path_factory) -> Path:
    from skimage import data

    path = tmp_path_factory.mktemp("photos") / "coffee.png"
    Image.fromarray(data.coffee()).save(path)
    return path


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A real redis-server on a free port for this session, without persistence."""
    from tests.redis_server import started_redis

    with started_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3-compatible server (moto) on a free port for this session, with one empty bucket."""
    from tests.s3_server import started_s3

    with started_s3(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture
def s3_blob_url(s3_server, monkeypatch):
    """A fresh `s3://bucket/prefix` URL on the test server; the standard AWS variables point s3fs at it."""
    import uuid

    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    yield f"s3://{s3_server.bucket}/test-{uuid.uuid4().hex[:12]}"
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()  # the next test's client must not reuse this one's settings
