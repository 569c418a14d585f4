"""Decode an upload into the one pixel convention used inside photogen: PIL RGB, EXIF orientation applied."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from photogen.domain.errors import ImageUnreadable

DEFAULT_MAX_PIXELS = 50_000_000


@dataclass(frozen=True)
class DecodedImage:
    image: Image.Image  # RGB, upright
    format: str  # "JPEG", "PNG", ...
    sha256: str  # of the original bytes, which are kept untouched elsewhere
    original_size: tuple[int, int]  # as stored in the file, before orientation


def decode_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Decode `data`, refusing what is not a readable still image within the pixel limit."""
    if not data:
        raise ImageUnreadable("the file is empty", hint="choose the photo file itself, not a shortcut to it")
    try:
        with Image.open(io.BytesIO(data)) as opened:
            width, height = opened.size
            if width * height > max_pixels:
                raise ImageUnreadable(
                    f"the image is {width}x{height} pixels, above the limit of {max_pixels:,}",
                    hint="downscale the photo before uploading",
                    code="image_too_large",
                )
            image_format = opened.format or "unknown"
            opened.load()
            upright = ImageOps.exif_transpose(opened)
            rgb = _to_rgb(upright)
    except ImageUnreadable:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageUnreadable(
            f"the file could not be read as an image ({type(exc).__name__})",
            hint="upload a JPEG, PNG or WebP photo; re-export it if it may be damaged",
        ) from None
    return DecodedImage(rgb, image_format, hashlib.sha256(data).hexdigest(), (width, height))


def _to_rgb(image: Image.Image) -> Image.Image:
    """Alpha is composited on white; every other mode converts directly."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
