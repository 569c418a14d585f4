"""Fuzzing intake: real photos saved in five formats, then damaged (byte flips, truncation, corrupted length
fields, edited header dimensions). Every input is accepted with a valid report or refused with a
PhotogenError that has a code: never another exception, never a hang, never unbounded memory.

Short in the default suite (30 examples per test). For a longer run:

    PHOTOGEN_FUZZ_EXAMPLES=2000 pytest -m fuzz tests/intake/test_intake_fuzz.py
"""

from __future__ import annotations

import functools
import io
import json
import os
import resource
import struct
import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from photogen.api.app import create_app
from photogen.config import Settings
from photogen.domain.errors import PhotogenError
from photogen.intake.pipeline import IntakeResult, intake_photo

EXAMPLES = int(os.environ.get("PHOTOGEN_FUZZ_EXAMPLES", "30"))
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF")
MAX_PIXELS = 4_000_000  # small limits, so that a header edit cannot ask for much memory
MAX_DECODED_BYTES = 48 * 1024 * 1024
ONE_INPUT_S = 60.0  # far above the slowest accepted input (well under a second): only a hang reaches it

pytestmark = pytest.mark.fuzz
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=EXAMPLES <= 30,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@functools.cache
def seed_files() -> dict[str, bytes]:
    """The astronaut at 160 px in each format, as the unmodified starting points."""
    from skimage import data

    small = Image.fromarray(data.astronaut()).resize((160, 160))
    made = {}
    for name in FORMATS:
        buffer = io.BytesIO()
        small.save(buffer, name, **({"quality": 85} if name in ("JPEG", "WEBP") else {}))
        made[name] = buffer.getvalue()
    return made


# -- mutations -----------------------------------------------------------------------------------

def _flip(data: bytearray, draw) -> None:
    for _ in range(draw(st.integers(1, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))


def _truncate(data: bytearray, draw) -> None:
    del data[draw(st.integers(0, len(data) - 1)):]


def _length_fields(data: bytearray, draw) -> None:
    """Corrupt a PNG chunk length, a JPEG segment length, or (elsewhere) any 4 bytes."""
    value = draw(st.sampled_from([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0xFFFF, len(data) * 4])) if draw(st.booleans()) \
        else draw(st.integers(0, 0xFFFFFFFF))
    starts, markers = [], []
    if data.startswith(b"\x89PNG"):
        at = 8
        while at + 8 <= len(data):
            starts.append(at)
            at += 12 + struct.unpack(">I", data[at:at + 4])[0]
    elif data.startswith(b"\xff\xd8"):
        markers = [i for i in range(2, len(data) - 4) if data[i] == 0xFF and data[i + 1] not in (0, 0xFF, 0xD8, 0xD9)]
    if starts:
        at = draw(st.sampled_from(starts))
        data[at:at + 4] = struct.pack(">I", value)
    elif markers:
        at = draw(st.sampled_from(markers)) + 2
        data[at:at + 2] = struct.pack(">H", value & 0xFFFF)
    else:
        at = draw(st.integers(0, max(0, len(data) - 4)))
        data[at:at + 4] = struct.pack(">I", value)[: len(data) - at]


def _dimensions(data: bytearray, draw) -> None:
    """Edit the declared width and height in the header: small, huge, zero."""
    width, height = (draw(st.sampled_from([0, 1, 159, 161, 4096, 65535, 50000])) for _ in range(2))
    if data.startswith(b"\x89PNG"):
        data[16:24] = struct.pack(">II", width, height)
    elif data.startswith(b"\xff\xd8") and b"\xff\xc0" in data:
        at = data.index(b"\xff\xc0") + 5
        data[at:at + 4] = struct.pack(">HH", height & 0xFFFF, width & 0xFFFF)
    elif data.startswith(b"GIF"):
        data[6:10] = struct.pack("<HH", width & 0xFFFF, height & 0xFFFF)
    elif data.startswith(b"RIFF") and data[12:16] == b"VP8 ":
        data[26:30] = struct.pack("<HH", width & 0x3FFF, height & 0x3FFF)
    else:
        _flip(data, draw)


MUTATIONS = {"flip": _flip, "truncate": _truncate, "length": _length_fields, "dimensions": _dimensions}


class Damaged(bytes):
    """Damaged bytes whose repr says how they were made (hypothesis prints it for a failing example)."""

    recipe = ""

    def __repr__(self) -> str:
        return f"<{self.recipe}: {len(self)} bytes, starting {bytes(self[:16])!r}>"


@pytest.fixture(scope="module")
def seeds() -> dict[str, bytes]:
    return seed_files()


@st.composite
def damaged(draw) -> Damaged:
    seed = draw(st.sampled_from(FORMATS))
    data = bytearray(seed_files()[seed])
    names = draw(st.lists(st.sampled_from(sorted(MUTATIONS)), min_size=1, max_size=3))
    for name in names:
        if data:
            MUTATIONS[name](data, draw)
    made = Damaged(data)
    made.recipe = f"{seed} + {', '.join(names)}"
    return made


# -- the checks ----------------------------------------------------------------------------------

def _within_time(work) -> object:
    """Run `work` in a thread; fail if it has not finished after ONE_INPUT_S (a hang)."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except Exception as exc:  # handed to the test thread, which judges it
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(ONE_INPUT_S)
    assert not thread.is_alive(), f"intake did not finish within {ONE_INPUT_S} s"
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("value")


def _check_outcome(data: bytes, detector) -> None:
    try:
        result = _within_time(lambda: intake_photo(data, max_pixels=MAX_PIXELS, max_decoded_bytes=MAX_DECODED_BYTES,
                                                   detector=detector))
    except PhotogenError as refused:
        assert refused.code and refused.code != "internal_error" and refused.message
        return
    assert isinstance(result, IntakeResult)
    assert result.decoded.image.mode == "RGB" and min(result.decoded.image.size) >= 1
    assert result.report.use and json.dumps(result.report.as_dict())
    assert result.previews and all(preview.startswith(b"\xff\xd8") for preview in result.previews.values())


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_damaged_photos_are_accepted_with_a_report_or_refused_with_a_code(seeds, detector):
    for data in seeds.values():  # the undamaged seeds are a baseline: each one reaches a clear outcome
        _check_outcome(data, detector)
    before = _peak_rss_mb()

    @FUZZ
    @given(data=damaged())
    def check(data: bytes) -> None:
        _check_outcome(data, detector)

    check()
    assert _peak_rss_mb() - before < 512  # the header limits held: no input made the process balloon


def test_damaged_uploads_get_201_or_an_error_with_a_code_never_a_500(seeds, tmp_path):
    app_settings = Settings(home=tmp_path / "home", device="cpu", offline=True, worker_enabled=False,
                            webhook_secret="test-secret", max_pixels=MAX_PIXELS, max_decoded_bytes=MAX_DECODED_BYTES,
                            allowed_hosts=["testserver"], uploads_per_minute=100_000)
    with TestClient(create_app(app_settings), raise_server_exceptions=False) as client:

        @settings(FUZZ, max_examples=max(10, EXAMPLES // 3))
        @given(data=damaged())
        def check(data: bytes) -> None:
            response = client.post("/v1/uploads", files={"file": ("photo", data, "application/octet-stream")})
            body = response.json()
            if response.status_code == 201:
                assert body["sha256"] and body["preflight"]
            else:
                assert 400 <= response.status_code < 500, body
                assert body["error"]["code"] and body["error"]["message"]

        check()


def test_the_mutations_reach_every_part_of_the_file(seeds):
    """The corpus is not trivially refused: damaged inputs include accepted ones and several refusal codes."""
    seen: set[str] = set()

    @settings(FUZZ, max_examples=max(30, EXAMPLES), derandomize=True)
    @given(data=damaged())
    def collect(data: bytes) -> None:
        try:
            intake_photo(data, max_pixels=MAX_PIXELS, max_decoded_bytes=MAX_DECODED_BYTES)
            seen.add("accepted")
        except PhotogenError as refused:
            seen.add(refused.code)

    collect()
    assert "accepted" in seen and len(seen) >= 3, seen


def test_a_seed_is_a_real_photo_in_its_format(seeds):
    for name, data in seeds.items():
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == name and image.size == (160, 160)
    assert np.asarray(Image.open(io.BytesIO(seeds["PNG"]))).std() > 20  # a photo, not a flat fill
