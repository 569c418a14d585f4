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


def thumbnail(image: Image.Image, long_side: int = THUMBNAIL_LONG_SIDE) -> Image.Image:
    """A copy with its long side at most `long_side` (never enlarged)."""
    factor = long_side / max(image.size)
    if factor >= 1.0:
        return image.copy()
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def encode_derivative(
    image: Image.Image,
    format: str = "JPEG",
    *,
    quality: int = 90,
    metadata: PhotoMetadata | None = None,
) -> bytes:
    """Encode RGB pixels as JPEG, PNG or WebP with no metadata but, optionally, the allow-listed camera tags."""
    options: dict[str, object] = {}
    if metadata is not None:
        options["exif"] = derivative_exif(metadata).tobytes()
    if format.upper() in ("JPEG", "WEBP"):
        options["quality"] = quality
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format.upper(), **options)
    return buffer.getvalue()
