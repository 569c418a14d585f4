"""Memory of intake: decoded bytes bounded from the header, decodes run a few at a time, previews made once,
request bodies capped while they stream. (What RSS does under load is bench/upload_memory.py's part.)"""

from __future__ import annotations

import asyncio
import io
import json
import struct
import threading
import zlib

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from photogen.api.app import create_app
from photogen.config import Settings
from photogen.domain.errors import ImageUnreadable
from photogen.intake import calibration
from photogen.intake.decode import decode_image, decoded_bytes
from photogen.intake.memory import DECODE_SLOTS, DecodeSlots
from photogen.intake.pipeline import intake_photo


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def rgba16_png(side: int) -> bytes:
    """A flat side x side RGBA PNG with 16-bit samples: 7000 px is about 390 KB on disk, 392 MB counted."""
    row = b"\x00" + b"\x12\x34\x56\x78\x9a\xbc\xff\xff" * side
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 16, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def hostile_png() -> bytes:
    return rgba16_png(7000)


@pytest.fixture
def server(tmp_path):
    settings = Settings(home=tmp_path / "home", device="cpu", offline=True, worker_enabled=False,
                        webhook_secret="test-secret", max_upload_bytes=2_000_000,
                        allowed_hosts=["testserver"])
    with TestClient(create_app(settings)) as client:
        yield client


# -- the decoded-bytes bound ---------------------------------------------------------------------

def test_decoded_bytes_count_16_bit_samples_and_alpha():
    with Image.open(io.BytesIO(rgba16_png(100))) as rgba16:
        assert decoded_bytes(rgba16) == 100 * 100 * 4 * 2
    with Image.open(io.BytesIO(calibration.png_bytes(np.zeros((100, 100, 3), np.uint8)))) as rgb8:
        assert decoded_bytes(rgb8) == 100 * 100 * 3


def test_the_hostile_16_bit_rgba_png_is_refused_from_its_header(hostile_png):
    started = DECODE_SLOTS.started
    with pytest.raises(ImageUnreadable) as refused:
        intake_photo(hostile_png)
    assert refused.value.code == "image_decoded_too_large" and "392 MB" in refused.value.message
    assert DECODE_SLOTS.started == started + 1  # it took a slot, but refused before loading any pixel


def test_a_16_bit_rgba_png_within_the_bound_decodes_reduced():
    result = intake_photo(rgba16_png(2400))
    assert 768 <= max(result.decoded.image.size) < 2400 and result.decoded.size == (2400, 2400)
    assert result.decoded.image.mode == "RGB" and "transparency composited on white" in result.decoded.conversions
    assert sorted(result.previews) == [256, 512]


def test_the_hostile_upload_is_answered_413_with_its_code(server, hostile_png):
    response = server.post("/v1/uploads", files={"file": ("big.png", hostile_png, "image/png")})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "image_decoded_too_large"


# -- decodes a few at a time ---------------------------------------------------------------------

def test_a_decode_waits_for_a_free_slot():
    slots = DecodeSlots(1)
    data = calibration.png_bytes(np.zeros((64, 64, 3), np.uint8))
    finished = threading.Event()

    def decode() -> None:
        decode_image(data, slots=slots)
        finished.set()

    with slots:  # the only slot is taken
        worker = threading.Thread(target=decode)
        worker.start()
        assert not finished.wait(0.5)
    assert finished.wait(30) and slots.high_water == 1
    worker.join()


def test_concurrent_uploads_never_decode_more_than_the_limit(server):
    photos = [calibration.png_bytes(np.full((600, 800, 3), shade, np.uint8)) for shade in range(0, 240, 30)]
    DECODE_SLOTS.set_limit(2)
    DECODE_SLOTS.high_water = 0
    answers: list[int] = []

    def post(data: bytes) -> None:
        answers.append(server.post("/v1/uploads", files={"file": ("p.png", data, "image/png")}).status_code)

    threads = [threading.Thread(target=post, args=(photo,)) for photo in photos]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert answers == [201] * len(photos)
    assert 1 <= DECODE_SLOTS.high_water <= 2


# -- previews made once --------------------------------------------------------------------------

def test_previews_come_from_the_blob_store_not_from_the_original(server, astronaut_array):
    big = np.asarray(Image.fromarray(astronaut_array).resize((4000, 2000)))
    uploaded = server.post("/v1/uploads", files={"file": ("a.jpg", calibration.jpeg_bytes(big, 90), "image/jpeg")})
    assert uploaded.status_code == 201
    upload = uploaded.json()
    container = server.app.state.container
    stored = [key for key in container.blobs.keys() if key.startswith("previews/")]
    assert stored == [f"previews/local/{upload['sha256']}/{side}.jpg" for side in (256, 512)]
    started = DECODE_SLOTS.started
    sizes = {}
    for side in (256, 512, 300, 64):
        response = server.get(f"/v1/uploads/{upload['id']}/preview?long_side={side}")
        assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
        sizes[side] = Image.open(io.BytesIO(response.content)).size
    assert sizes == {256: (256, 128), 512: (512, 256), 300: (300, 150), 64: (64, 32)}
    assert DECODE_SLOTS.started == started  # served from stored previews: the original was not decoded
    for _ in range(2):  # 1024 was not made at upload (decoded at 1/4): made once, then kept
        assert Image.open(io.BytesIO(server.get(f"/v1/uploads/{upload['id']}/preview").content)).size == (1024, 512)
    suggestion = server.get(f"/v1/uploads/{upload['id']}/crop?preset=headshot")
    assert suggestion.status_code == 200 and suggestion.json()["source_size"] == [4000, 2000]
    assert DECODE_SLOTS.started == started + 1
    assert server.delete(f"/v1/uploads/{upload['id']}").status_code == 200
    assert container.blobs.keys() == []  # previews went with the original


# -- request bodies capped while they stream -----------------------------------------------------

def _streamed(app, path: str, chunks: int, chunk: bytes, pulled: list[int], headers=None) -> httpx.Response:
    async def body():
        yield b'{"prompt": "'
        for _ in range(chunks):
            pulled.append(len(chunk))
            yield chunk
        yield b'"}'

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.put(path, content=body(), headers={"content-type": "application/json", **(headers or {})})

    return asyncio.run(send())


def test_an_over_cap_json_body_gets_413_without_being_read_whole(server):
    pulled: list[int] = []
    chunk = b"a" * 65536
    response = _streamed(server.app, "/v1/recipes/huge", chunks=3200, chunk=chunk, pulled=pulled)  # 200 MB
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    cap = server.app.state.container.settings.max_json_body_bytes
    assert sum(pulled) <= cap + 2 * len(chunk)  # stopped reading just past the cap


def test_a_declared_length_over_the_cap_is_refused_before_reading(server):
    pulled: list[int] = []
    response = _streamed(server.app, "/v1/recipes/huge", chunks=100, chunk=b"a" * 65536, pulled=pulled,
                         headers={"content-length": str(100 * 65536 + 14)})
    assert response.status_code == 413 and pulled == []


def test_an_upload_as_base64_json_up_to_the_upload_limit_passes_the_cap(server):
    import base64

    noise = np.random.default_rng(0).integers(0, 256, (800, 800, 3), dtype=np.uint8)  # PNG cannot shrink it
    data = calibration.png_bytes(noise)
    assert len(data) <= 2_000_000 < len(base64.b64encode(data))  # within the upload limit, beyond it as base64
    response = server.post("/v1/uploads", content=json.dumps({"image": base64.b64encode(data).decode()}),
                           headers={"content-type": "application/json"})
    assert response.status_code == 201, response.text
