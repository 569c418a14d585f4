"""Derivatives: the only images photogen serves. Written fresh, without the source's EXIF, XMP, IPTC or ICC.

Pixels are sRGB after decoding, so no profile is embedded. Where a derivative should name the camera,
pass the photo's metadata: only the allow-listed tags in `metadata.DERIVATIVE_TAGS` are written.
"""

from __future__ import annotations

import io

from PIL import Image

from photogen.intake.metadata import PhotoMetadata, derivative_exif

THUMBNAIL_LONG_SIDE = 512
THUMBNAIL_QUALITY = 85
# The long sides previews are stored at. Other sizes are cut from the next one up, never from the original.
PREVIEW_SIDES = (256, 512, 1024, 2048, 4096)
PREVIEW_QUALITY = 88


def thumbnail(image: Image.Image, long_side: int = THUMBNAIL_LONG_SIDE) -> Image.Image:
    """A copy with its long side at most `long_side` (never enlarged)."""
    factor = long_side / max(image.size)
    if factor >= 1.0:
        return image.copy()
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def preview_side(requested: int, photo_long_side: int) -> int:
    """The stored preview a request for `requested` pixels is served from: the smallest ladder side that is at
    least the request, or at least the photo itself (previews are never enlarged, so larger ones are equal)."""
    wanted = min(requested, photo_long_side)
    return next((side for side in PREVIEW_SIDES if side >= wanted), PREVIEW_SIDES[-1])


def previews_of(image: Image.Image, photo_long_side: int) -> dict[int, bytes]:
    """The ladder previews that `image` (the photo, possibly decoded reduced) makes exactly, as JPEGs.

    A side is made when the pixels have at least that many, or when `image` is the photo at full size
    (then one preview at least as large as the photo stands for every larger side).
    """
    full_size = max(image.size) >= photo_long_side
    made: dict[int, bytes] = {}
    for side in PREVIEW_SIDES:
        if side <= max(image.size) or (full_size and side == preview_side(side, photo_long_side)):
            made[side] = encode_derivative(thumbnail(image, side), "JPEG", quality=PREVIEW_QUALITY)
        if side >= photo_long_side:
            break
    return made


def encode_derivative(
    image: Image.Image,
    format: str = "JPEG",
    *,
    quality: int = 90,
    compress_level: int | None = None,
    metadata: PhotoMetadata | None = None,
) -> bytes:
    """Encode RGB pixels as JPEG, PNG or WebP with no metadata but, optionally, the allow-listed camera tags.
    `compress_level` (PNG, zlib 0-9) defaults to Pillow's."""
    options: dict[str, object] = {}
    if metadata is not None:
        options["exif"] = derivative_exif(metadata).tobytes()
    if format.upper() in ("JPEG", "WEBP"):
        options["quality"] = quality
    if format.upper() == "PNG" and compress_level is not None:
        options["compress_level"] = compress_level
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format.upper(), **options)
    return buffer.getvalue()
