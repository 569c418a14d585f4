"""Decode an upload into the one pixel convention used inside photogen: PIL RGB, sRGB, EXIF orientation applied.

Rules (documented in docs/intake.md):
- Accepted: JPEG (baseline, progressive, MPO camera files: the primary image), PNG (8/16-bit, palette,
  alpha), WebP, and HEIC/HEIF where pillow-heif is installed. AVIF where Pillow reads it.
- Refused with an `ImageUnreadable` whose `code` says why: empty, too many bytes, not an image, bytes that
  do not match the claimed type, unsupported format, more pixels than the limit, decompression bomb, cut
  short or damaged data.
- Animations (GIF, APNG, animated WebP) decode their first frame; `frame_count` says how many there are and
  the preflight report warns (`animation`). GIF is accepted for that reason; an MPO's extra frames are
  previews of the same photo and do not count.
- Alpha is composited on white; 16-bit samples are scaled to 8 bits (divided by 257, rounded); CMYK and any
  embedded ICC profile are converted to sRGB through the profile (a plain conversion where there is none).
- JPEGs decode at a reduced size (libjpeg's 1/2, 1/4, 1/8 scaling) when the caller asks for `min_scale`;
  other formats decode whole and are shrunk by an integer factor (`Image.reduce`) before any conversion.
- Memory is bounded before decoding: width x height x bands x bytes per band (16-bit samples count 2,
  alpha counts a band) above `max_decoded_bytes` is refused (`image_decoded_too_large`), and at most
  `DECODE_SLOTS` decodes run at once in the process. After a large decode, freed memory is handed back
  to the operating system (glibc `malloc_trim`) so the process does not keep its peak.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import struct
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from photogen.domain.errors import ImageUnreadable
from photogen.intake.memory import DECODE_SLOTS, DecodeSlots, release_freed_memory
from photogen.intake.metadata import PhotoMetadata, read_metadata

DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_DECODED_BYTES = 256 * 1024 * 1024
# Decodes that held at least this much are followed by handing freed memory back to the system.
_TRIM_AFTER_BYTES = 32 * 1024 * 1024

# Format as Pillow names it -> the format photogen reports. MPO is a JPEG with extra preview frames.
_ACCEPTED = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WEBP", "HEIF": "HEIF", "AVIF": "AVIF",
             "GIF": "GIF"}  # fmt: skip

# What a file name extension or MIME type claims -> the format the bytes must then be.
_CLAIMS = {
    "jpg": "JPEG", "jpeg": "JPEG", "jpe": "JPEG", "jfif": "JPEG", "image/jpeg": "JPEG", "image/pjpeg": "JPEG",
    "png": "PNG", "image/png": "PNG", "apng": "PNG", "image/apng": "PNG",
    "webp": "WEBP", "image/webp": "WEBP",
    "heic": "HEIF", "heif": "HEIF", "image/heic": "HEIF", "image/heif": "HEIF",
    "avif": "AVIF", "image/avif": "AVIF",
    "gif": "GIF", "image/gif": "GIF", "bmp": "BMP", "tif": "TIFF", "tiff": "TIFF", "image/tiff": "TIFF",
}  # fmt: skip

# Leading bytes of common non-images, for a refusal that says what the file is.
_NOT_IMAGES = (
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"\x7fELF", "a program"),
    (b"MZ", "a Windows program"),
)

# EXIF orientation -> the transpose that makes the pixels upright.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_REEXPORT = "export it again as JPEG or PNG from a photo app"

# JPEG's example luminance quantisation table (ITU-T T.81 Annex K, natural order), which libjpeg scales by
# quality; comparing a file's table with each scaling gives back the quality it was saved at.
_STANDARD_LUMA_TABLE = np.array(
    (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
     14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
     18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99),
    dtype=np.int64,
)  # fmt: skip
_QUALITIES = np.arange(1, 101)
_SCALES = np.where(_QUALITIES < 50, 5000 // _QUALITIES, 200 - 2 * _QUALITIES)
_SCALED_TABLES = np.clip((_STANDARD_LUMA_TABLE[None, :] * _SCALES[:, None] + 50) // 100, 1, 255)


@dataclass(frozen=True)
class DecodedImage:
    """A decoded upload. `image` may be smaller than the photo (see `scale`); boxes refer to `size`."""

    image: Image.Image  # RGB, sRGB, upright; `scale` times the full size
    format: str  # "JPEG", "PNG", "WEBP", "HEIF", "AVIF", "GIF"
    sha256: str  # of the original bytes, which are kept untouched elsewhere
    original_size: tuple[int, int]  # full size as stored in the file, before orientation
    size: tuple[int, int] = (0, 0)  # full size, upright: the coordinates crop boxes and faces use
    scale: float = 1.0  # image.width / size[0]; below 1 when a JPEG was decoded at reduced size
    source_mode: str = "RGB"  # Pillow's mode of the file: "RGB", "CMYK", "I;16", "P", "RGBA", ...
    conversions: tuple[str, ...] = ()  # what was done to reach RGB, in plain words
    metadata: PhotoMetadata = field(default_factory=PhotoMetadata)
    byte_count: int = 0
    jpeg_quality: int | None = None  # estimated from the file's quantisation table; None for other formats
    frame_count: int = 1  # frames in an animation (the first is the one decoded); 1 for a still photo

    def __post_init__(self) -> None:
        if self.size == (0, 0):  # built by hand with the short form: the image is the full size
            object.__setattr__(self, "size", self.image.size)

    @property
    def megapixels(self) -> float:
        return self.size[0] * self.size[1] / 1e6


def decode_image(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES,
    claimed_type: str | None = None,
    min_scale: float | None = None,
    min_long_side: int | None = None,
    slots: DecodeSlots | None = None,
) -> DecodedImage:
    """Decode `data`, refusing what is not a readable photo within the limits (animations: the first frame).

    `claimed_type` is a file name, extension or MIME type; bytes of another image type are refused.
    Reduced decoding: given `min_scale` and/or `min_long_side`, a JPEG decodes at the smallest of 1/8, 1/4,
    1/2 of full size that keeps at least that scale and that long side; other formats decode whole and are
    shrunk by the largest integer factor that keeps both, before any conversion. Without either, full size.
    `max_decoded_bytes` bounds the memory the decode takes (see `decoded_bytes`); `slots` bounds how many
    decodes run at once (default: the process-wide `DECODE_SLOTS`).
    """
    # 1. cheap refusals before any parsing
    if not data:
        raise ImageUnreadable(
            "the file is empty", hint="choose the photo file itself, not a shortcut to it", code="image_empty"
        )
    if len(data) > max_bytes:
        raise ImageUnreadable(
            f"the file is {len(data) / 1e6:.1f} MB, above the limit of {max_bytes / 1e6:.0f} MB",
            hint="export a smaller JPEG (quality 90 is plenty)",
            code="file_too_large",
        )
    # 2. identify, check limits and type from the header, then decode (one of the process's decode slots)
    _register_heif_opener()
    limits = _Limits(max_pixels, max_decoded_bytes, min_scale, min_long_side)
    try:
        with slots or DECODE_SLOTS:
            pixels = _decode_pixels(data, claimed_type, limits)
    except ImageUnreadable:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(max_pixels) from None
    except UnidentifiedImageError:
        raise _not_an_image(data) from None
    except (OSError, EOFError, SyntaxError, ValueError, IndexError, KeyError, MemoryError) as exc:
        raise _damaged(exc) from None
    except (TypeError, ArithmeticError, struct.error, RuntimeError) as exc:  # Pillow's parsers on damaged headers
        raise _damaged(exc) from None
    except Warning as exc:  # Pillow's warnings about damaged data, where a filter turns warnings into errors
        raise _damaged(exc) from None
    finally:
        # the full-size intermediates are gone once _decode_pixels returns; hand their memory back
        if limits.cost >= _TRIM_AFTER_BYTES:
            release_freed_memory()
    rgb, conversions, metadata = pixels.rgb, pixels.conversions, pixels.metadata
    # 3. upright: orientation from EXIF, applied to the (possibly reduced) pixels
    transpose = _UPRIGHT.get(metadata.orientation)
    if transpose is not None:
        rgb = rgb.transpose(transpose)
        conversions += (f"turned upright (EXIF orientation {metadata.orientation})",)
    stored_size = pixels.stored_size
    upright = (stored_size[1], stored_size[0]) if metadata.orientation in (5, 6, 7, 8) else stored_size
    return DecodedImage(
        image=rgb,
        format=pixels.format,
        sha256=hashlib.sha256(data).hexdigest(),
        original_size=stored_size,
        size=upright,
        scale=rgb.width / upright[0],
        source_mode=pixels.source_mode,
        conversions=conversions,
        metadata=metadata,
        byte_count=len(data),
        jpeg_quality=pixels.quality,
        frame_count=pixels.frames,
    )


@dataclass
class _Limits:
    max_pixels: int
    max_decoded_bytes: int
    min_scale: float | None
    min_long_side: int | None
    cost: int = 0  # decoded bytes of the decode, once known


@dataclass(frozen=True)
class _Pixels:
    rgb: Image.Image
    format: str
    stored_size: tuple[int, int]
    source_mode: str
    conversions: tuple[str, ...]
    metadata: PhotoMetadata
    quality: int | None
    frames: int


def _decode_pixels(data: bytes, claimed_type: str | None, limits: _Limits) -> _Pixels:
    """Header checks, the memory bound, the (reduced) decode and the conversion to sRGB.

    Everything full-size lives only inside this call, so it is freed when the call returns.
    """
    with Image.open(io.BytesIO(data)) as opened:
        image_format, frames = _check_header(opened, claimed_type, limits.max_pixels)
        stored_size = opened.size
        if image_format != "JPEG":  # before the metadata, which for a PNG may load the pixels
            limits.cost = decoded_bytes(opened)
            _check_decoded_bytes(opened, limits)
        metadata = read_metadata(opened)
        icc = opened.info.get("icc_profile")
        quality = jpeg_quality(getattr(opened, "quantization", None)) if image_format == "JPEG" else None
        opened.seek(0)  # the first frame of an animation
        scale = _wanted_scale(stored_size, limits.min_scale, limits.min_long_side)
        if scale < 1.0 and image_format == "JPEG":
            opened.draft(
                None,
                (max(1, math.ceil(stored_size[0] * scale)), max(1, math.ceil(stored_size[1] * scale))),
            )
        if image_format == "JPEG":  # counted at the size libjpeg will decode to
            limits.cost = decoded_bytes(opened)
            _check_decoded_bytes(opened, limits)
        opened.load()
        source_mode = opened.mode
        image: Image.Image = opened
        if scale < 1.0 and image_format != "JPEG":
            image = _reduced(opened, int(1.0 / scale))
        rgb, conversions = _to_srgb(image, icc)
        del image
    return _Pixels(rgb, image_format, stored_size, source_mode, conversions, metadata, quality, frames)


def decoded_bytes(opened: Image.Image) -> int:
    """The memory a decode of `opened` takes, counted from its header: width x height x bands x bytes per band.

    Bands are at least 3 (every image becomes RGB); alpha adds one; a palette counts its colours' bands;
    16-bit samples count 2 bytes even where Pillow keeps 8 of them; 32-bit samples count 4.
    """
    width, height = opened.size
    mode = opened.mode
    if mode == "P":
        bands = 4 if "transparency" in opened.info or (opened.palette and opened.palette.mode == "RGBA") else 3
    else:
        bands = len(opened.getbands())
    if mode in ("I", "F"):
        per_band = 4
    elif mode.startswith("I;16") or any(";16" in str(getattr(tile, "args", "")) for tile in opened.tile):
        per_band = 2
    else:
        per_band = 1
    return width * height * max(bands, 3) * per_band


def _check_decoded_bytes(opened: Image.Image, limits: _Limits) -> None:
    if limits.cost <= limits.max_decoded_bytes:
        return
    width, height = opened.size
    raise ImageUnreadable(
        f"the image would take {limits.cost / 1e6:.0f} MB of memory once decoded ({width}x{height} "
        f"{opened.mode}, counting 16-bit samples and transparency), above the limit of "
        f"{limits.max_decoded_bytes / 1e6:.0f} MB",
        hint="export it as an 8-bit JPEG, or downscale it before uploading",
        code="image_decoded_too_large",
    )


def _reduced(image: Image.Image, factor: int) -> Image.Image:
    """`image` shrunk by an integer factor (box filter), in a mode `Image.reduce` takes."""
    if factor < 2:
        return image
    if image.mode == "P":
        has_alpha = "transparency" in image.info or (image.palette and image.palette.mode == "RGBA")
        image = image.convert("RGBA" if has_alpha else "RGB")
    elif image.mode == "1":
        image = image.convert("L")
    elif image.mode.startswith("I;16"):
        return image.convert("I").reduce(factor).convert("I;16")
    return image.reduce(factor)


def jpeg_quality(quantization: dict[int, list[int]] | None) -> int | None:
    """The libjpeg quality (1-100) whose scaled table is closest to the file's luminance table, or None."""
    if not quantization or 0 not in quantization:
        return None
    table = np.asarray(list(quantization[0]), dtype=np.int64)
    if table.size != 64:
        return None
    distance = np.abs(_SCALED_TABLES - table[None, :]).sum(axis=1)
    return int(_QUALITIES[int(distance.argmin())])


def _check_header(opened: Image.Image, claimed_type: str | None, max_pixels: int) -> tuple[str, int]:
    """Format, type claim and pixel count from the header; returns photogen's format name and the frame count."""
    found = opened.format or "unknown"
    image_format = _ACCEPTED.get(found)
    claimed = _claimed_format(claimed_type)
    if claimed is not None and claimed != (image_format or found):
        raise ImageUnreadable(
            f"the file is named or sent as {claimed} but its bytes are {found}",
            hint=f"rename it to match its content ({found}) or {_REEXPORT}",
            code="image_type_mismatch",
        )
    width, height = opened.size
    if width * height > max_pixels:
        raise ImageUnreadable(
            f"the image is {width}x{height} pixels, above the limit of {max_pixels:,}",
            hint="downscale the photo before uploading",
            code="image_too_large",
        )
    frames = getattr(opened, "n_frames", 1) if getattr(opened, "is_animated", False) else 1
    if found == "MPO":  # an MPO's extra frames are previews of the same photo
        frames = 1
    if image_format is None:
        raise ImageUnreadable(
            f"{found} files are not accepted",
            hint=f"upload a JPEG, PNG or WebP photo; {_REEXPORT}",
            code="image_format_unsupported",
        )
    return image_format, frames


def _wanted_scale(size: tuple[int, int], min_scale: float | None, min_long_side: int | None) -> float:
    if min_scale is None and min_long_side is None:
        return 1.0
    by_side = (min_long_side / max(size)) if min_long_side else 0.0
    return min(1.0, max(min_scale or 0.0, by_side))


@functools.cache
def _register_heif_opener() -> bool:
    """Teach Pillow HEIC/HEIF once, on first use, where the optional pillow-heif package is installed."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


def _claimed_format(claimed_type: str | None) -> str | None:
    if not claimed_type:
        return None
    key = claimed_type.strip().lower()
    if "/" not in key or key.count("/") > 1 or "." in key:  # a file name or extension, not a MIME type
        key = key.rsplit(".", 1)[-1]
    return _CLAIMS.get(key.split(";")[0].strip())


def _to_srgb(image: Image.Image, icc: bytes | None) -> tuple[Image.Image, tuple[str, ...]]:
    """RGB in sRGB. Alpha on white, 16-bit scaled, CMYK and ICC profiles through littleCMS."""
    notes: list[str] = []
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        samples = np.asarray(image, dtype=np.uint32 if mode == "I" else np.uint16).astype(np.uint32)
        peak = 65535 if mode != "I" or samples.max(initial=0) > 255 else 255
        eight = ((samples * 255 + peak // 2) // peak).clip(0, 255).astype(np.uint8)
        image = Image.fromarray(eight)
        notes.append("16-bit samples scaled to 8 bits")
    if "A" in image.getbands() or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
        notes.append("transparency composited on white")
    if icc and image.mode in ("RGB", "RGBA", "CMYK"):
        converted = _through_profile(image, icc)
        if converted is not None:
            if not _is_srgb(icc):
                notes.append("colour profile converted to sRGB")
            return converted, tuple(notes)
    if image.mode == "CMYK":
        notes.append("CMYK converted to RGB without a profile")
    elif image.mode not in ("RGB", "RGBA"):
        notes.append(f"{image.mode} converted to RGB")
    return image.convert("RGB"), tuple(notes)


def _through_profile(image: Image.Image, icc: bytes) -> Image.Image | None:
    """Pixels converted from the embedded profile to sRGB, or None when the profile is unusable."""
    if image.mode != "CMYK" and _is_srgb(icc):
        return image.convert("RGB")
    try:
        transform = _transform_to_srgb(icc, "CMYK" if image.mode == "CMYK" else "RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return None
    source = image if image.mode == "CMYK" else image.convert("RGB")
    try:
        return ImageCms.applyTransform(source, transform)
    except (ImageCms.PyCMSError, ValueError):
        return None


@functools.lru_cache(maxsize=16)
def _transform_to_srgb(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform:
    source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    return ImageCms.buildTransform(source, ImageCms.createProfile("sRGB"), mode, "RGB")


@functools.lru_cache(maxsize=64)
def _is_srgb(icc: bytes) -> bool:
    try:
        description = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
    except (ImageCms.PyCMSError, OSError, ValueError):
        return False
    return "srgb" in description.lower()


def _too_many_pixels(max_pixels: int) -> ImageUnreadable:
    return ImageUnreadable(
        f"the image declares more pixels than the limit of {max_pixels:,} (a possible decompression bomb)",
        hint="downscale the photo before uploading",
        code="image_too_large",
    )


def _not_an_image(data: bytes) -> ImageUnreadable:
    head = data[:16]
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"hevc", b"mif1", b"msf1", b"avif"):
        return ImageUnreadable(
            "HEIC and HEIF photos need the optional pillow-heif package, which is not installed",
            hint="install pillow-heif, or export the photo as JPEG",
            code="image_format_unsupported",
        )
    what = next((name for magic, name in _NOT_IMAGES if head.startswith(magic)), None)
    message = f"the file is {what}, not an image" if what else "the file is not an image photogen can read"
    return ImageUnreadable(message, hint="upload a JPEG, PNG or WebP photo", code="image_unreadable")


def _damaged(exc: BaseException) -> ImageUnreadable:
    text = str(exc).lower()
    if "decompressed data too large" in text or "too much memory" in text or isinstance(exc, MemoryError):
        return ImageUnreadable(
            "the file expands to far more data than its image needs (a decompression bomb)",
            hint=_REEXPORT,
            code="image_bomb",
        )
    if isinstance(exc, EOFError) or "truncated" in text or "end of file" in text:
        return ImageUnreadable(
            "the image data is cut short (the file was not completely uploaded or saved)",
            hint="upload the file again, or " + _REEXPORT,
            code="image_truncated",
        )
    return ImageUnreadable(
        f"the image data is damaged ({type(exc).__name__})", hint=_REEXPORT, code="image_damaged"
    )
