"""A corpus of hostile files, built here; each gets its documented outcome (docs/intake.md) and none a traceback."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
import pytest
import typer
from PIL import ExifTags, Image
from typer.testing import CliRunner

from photogen.cli.intake import analyze
from photogen.domain.errors import ImageUnreadable
from photogen.intake import calibration as degrade
from photogen.intake.decode import decode_image
from photogen.intake.pipeline import intake_photo


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png(
    width: int, height: int, idat: bytes, bit_depth: int = 8, colour: int = 2, extra: bytes = b""
) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + extra + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def _astronaut_jpeg() -> bytes:
    return degrade.jpeg_bytes(degrade.sample_photos()["astronaut"], 90)


def truncated_jpeg() -> bytes:
    data = _astronaut_jpeg()
    return data[: len(data) // 2]


def zip_renamed_jpg() -> bytes:
    buffer = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "not a photo")
    return buffer.getvalue()


def header_1x1() -> bytes:
    return _png(1, 1, zlib.compress(b"\x00\x80\x80\x80"))


def header_50000x50000_png() -> bytes:
    return _png(50000, 50000, zlib.compress(b"\x00" * 64))


def header_50000x50000_jpeg() -> bytes:
    data = bytearray(degrade.jpeg_bytes(np.zeros((16, 16, 3), np.uint8), 90))
    start = data.index(b"\xff\xc0")  # baseline frame header: length(2) precision(1) height(2) width(2)
    data[start + 5 : start + 9] = struct.pack(">HH", 50000, 50000)
    return bytes(data)


def png_bomb() -> bytes:
    """20000x20000 black pixels, 1 bit each: about 50 KB on disk, 1.2 GB once decoded to RGB."""
    row = b"\x00" * (20000 // 8 + 1)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(20000)) + packer.flush()
    return _png(20000, 20000, idat, bit_depth=1, colour=0)


def png_text_bomb() -> bytes:
    """An 8x8 image with a compressed text chunk that inflates to 50 MB."""
    text = _chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"\x00" * (50 * 1024 * 1024), 9))
    return _png(8, 8, zlib.compress(b"".join(b"\x00" + bytes(24) for _ in range(8))), extra=text)


def cmyk_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(degrade.sample_photos()["astronaut"]).convert("CMYK").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def png_16_bit() -> bytes:
    """The astronaut at 16 bits per channel (each 8-bit value times 257)."""
    rgb16 = (degrade.sample_photos()["astronaut"].astype(np.uint32) * 257).astype(">u2")
    raw = b"".join(b"\x00" + rgb16[row].tobytes() for row in range(rgb16.shape[0]))
    return _png(rgb16.shape[1], rgb16.shape[0], zlib.compress(raw, 1), bit_depth=16)


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (32, 32), colour) for colour in ("red", "green", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def animated_png() -> bytes:
    frames = [Image.new("RGB", (32, 32), colour) for colour in ("red", "green")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "PNG", save_all=True, append_images=frames[1:], duration=100)
    return buffer.getvalue()


def rotated_jpeg_with_gps() -> bytes:
    stored = Image.fromarray(degrade.sample_photos()["astronaut"]).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.IFD.GPSInfo] = {1: "N", 2: (51.0, 30.0, 0.0)}
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()


def heic_without_plugin() -> bytes:
    return b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)


def bmp_file() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(buffer, "BMP")
    return buffer.getvalue()


# name, builder, the name it is uploaded as, and the documented outcome: an error code, or "decoded"/"blocked"
CORPUS: list[tuple[str, Callable[[], bytes], str, str]] = [
    ("empty file", lambda: b"", "empty.jpg", "image_empty"),
    ("truncated JPEG", truncated_jpeg, "cut.jpg", "image_truncated"),
    ("zip renamed .jpg", zip_renamed_jpg, "photo.jpg", "image_unreadable"),
    ("random bytes", lambda: bytes(range(256)) * 4, "photo.jpg", "image_unreadable"),
    ("1x1 header", header_1x1, "dot.png", "blocked"),
    ("50000x50000 PNG header", header_50000x50000_png, "huge.png", "image_too_large"),
    ("50000x50000 JPEG header", header_50000x50000_jpeg, "huge.jpg", "image_too_large"),
    ("PNG bomb", png_bomb, "bomb.png", "image_too_large"),
    ("PNG text-chunk bomb", png_text_bomb, "text.png", "image_bomb"),
    ("CMYK JPEG", cmyk_jpeg, "print.jpg", "decoded"),
    ("16-bit PNG", png_16_bit, "deep.png", "decoded"),
    ("animated GIF (32 px)", animated_gif, "loop.gif", "blocked"),  # first frame, too small to use
    ("animated PNG (32 px)", animated_png, "loop.png", "blocked"),
    ("EXIF-rotated JPEG with GPS", rotated_jpeg_with_gps, "phone.jpg", "decoded"),
    ("HEIC without pillow-heif", heic_without_plugin, "photo.heic", "image_format_unsupported"),
    ("BMP", bmp_file, "old.bmp", "image_format_unsupported"),
    (
        "PNG bytes named .jpg",
        lambda: degrade.png_bytes(np.zeros((8, 8, 3), np.uint8)),
        "x.jpg",
        "image_type_mismatch",
    ),
]
IDS = [case[0] for case in CORPUS]


@pytest.fixture(scope="module")
def corpus() -> dict[str, bytes]:
    return {name: build() for name, build, _, _ in CORPUS}


@pytest.mark.parametrize(("name", "_build", "filename", "outcome"), CORPUS, ids=IDS)
def test_each_hostile_file_gets_its_documented_outcome(corpus, name, _build, filename, outcome):
    data = corpus[name]
    if outcome in ("decoded", "blocked"):
        result = intake_photo(data, claimed_type=filename)
        assert result.decoded.image.mode == "RGB"
        assert result.report.blocked is (outcome == "blocked")
        return
    with pytest.raises(ImageUnreadable) as refused:
        intake_photo(data, claimed_type=filename)
    assert refused.value.code == outcome
    assert refused.value.message and refused.value.hint
    assert "Traceback" not in str(refused.value) and "/" not in refused.value.message  # no paths leak


def test_an_animation_decodes_its_first_frame_and_warns(corpus):
    result = intake_photo(corpus["animated GIF (32 px)"], claimed_type="loop.gif")
    assert result.decoded.frame_count == 3 and result.decoded.format == "GIF"
    assert np.asarray(result.decoded.image)[16, 16].tolist() == [255, 0, 0]  # the first frame is red
    animation = result.report.check("animation")
    assert animation.level.value == "warn" and "3 frames" in animation.message


def test_the_1x1_image_blocks_on_resolution_only(corpus):
    report = intake_photo(corpus["1x1 header"]).report
    assert report.check("resolution").level.value == "block" and len(report.checks) == 1


def test_16_bit_and_cmyk_conversions_are_recorded(corpus):
    assert decode_image(corpus["CMYK JPEG"]).source_mode == "CMYK"
    deep = decode_image(corpus["16-bit PNG"])
    assert deep.image.mode == "RGB"
    assert np.array_equal(np.asarray(deep.image), degrade.sample_photos()["astronaut"])


def test_rotated_gps_photo_is_upright_and_gps_noted(corpus):
    result = intake_photo(corpus["EXIF-rotated JPEG with GPS"])
    assert result.report.metadata.has_gps and len(result.report.faces) == 1  # the face is found upright
    with Image.open(io.BytesIO(result.thumbnail)) as thumb:
        assert not thumb.getexif().get_ifd(ExifTags.IFD.GPSInfo)


def test_limits_on_bytes_and_pixels_are_configurable(corpus):
    photo = _astronaut_jpeg()
    with pytest.raises(ImageUnreadable) as too_many_bytes:
        decode_image(photo, max_bytes=1000)
    assert too_many_bytes.value.code == "file_too_large"
    with pytest.raises(ImageUnreadable) as too_many_pixels:
        decode_image(photo, max_pixels=100_000)
    assert too_many_pixels.value.code == "image_too_large" and "512x512" in too_many_pixels.value.message


@pytest.mark.parametrize(("name", "_build", "filename", "outcome"), CORPUS, ids=IDS)
def test_cli_answers_every_hostile_file_without_a_traceback(
    corpus, tmp_path, name, _build, filename, outcome
):
    app = typer.Typer()
    app.command()(analyze)
    path = tmp_path / filename
    path.write_bytes(corpus[name])
    result = CliRunner().invoke(app, [str(path)])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    if outcome in ("decoded", "blocked"):
        assert result.exit_code == (1 if outcome == "blocked" else 0)
        assert "overall:" in result.output
    else:
        assert result.exit_code == 2
        lines = [line for line in result.output.splitlines() if line.strip()]
        # The CLI's one error format: the error and its code, then the fix on the next line.
        assert len(lines) == 2 and lines[0].startswith(f"error [{outcome}]: ") and lines[1].startswith("  fix: ")
