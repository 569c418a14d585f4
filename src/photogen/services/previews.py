"""Previews: made once from an upload and kept in the blob store, so serving one never decodes the original.

Keys derive from the upload's original key: `originals/<owner>/<sha256>` has its previews at
`previews/<owner>/<sha256>/<long_side>.jpg`, one per side of `derivatives.PREVIEW_SIDES`. Intake stores the
sides its reduced decode allows; a larger side is made on first request (one reduced decode of the original)
and kept. Requests between ladder sides are cut from the next stored side up.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

from PIL import Image

from photogen.intake.decode import DecodedImage, decode_image
from photogen.intake.derivatives import (
    PREVIEW_QUALITY,
    PREVIEW_SIDES,
    encode_derivative,
    preview_side,
    thumbnail,
)
from photogen.intake.thresholds import ANALYSIS_LONG_SIDE
from photogen.store.blobs import BlobMissing, BlobStore


def preview_key(original_key: str, long_side: int) -> str:
    """Where the preview of the upload whose original is at `original_key` is kept at `long_side`."""
    prefix, _, rest = original_key.partition("/")
    if prefix != "originals" or not rest:
        raise ValueError(f"not an original's key: {original_key}")
    return f"previews/{rest}/{long_side}.jpg"


def preview_keys(original_key: str) -> list[str]:
    """Every key a preview of this original may have: what deleting the upload removes."""
    return [preview_key(original_key, side) for side in PREVIEW_SIDES]


class PreviewStore:
    def __init__(self, blobs: BlobStore, *, max_pixels: int, max_decoded_bytes: int) -> None:
        self._blobs = blobs
        self._max_pixels = max_pixels
        self._max_decoded_bytes = max_decoded_bytes

    def keep(self, original_key: str, previews: dict[int, bytes]) -> list[str]:
        """Store the previews intake made; returns the keys this call created (for a rollback)."""
        created = []
        for side, data in previews.items():
            key = preview_key(original_key, side)
            if not self._blobs.exists(key):
                self._blobs.put(key, data)
                created.append(key)
        return created

    def preview(self, original_key: str, photo_size: tuple[int, int], long_side: int,
                original: Callable[[], bytes]) -> bytes:
        """The JPEG preview with long side `long_side` (or the photo's, when smaller), from the stored ladder."""
        wanted = min(long_side, max(photo_size))
        data = self._ladder(original_key, preview_side(long_side, max(photo_size)), original)
        with Image.open(io.BytesIO(data)) as stored:
            if max(stored.size) <= wanted:
                return data
            factor = wanted / max(stored.size)
            stored.draft("RGB", (math.ceil(stored.width * factor), math.ceil(stored.height * factor)))
            return encode_derivative(thumbnail(stored.convert("RGB"), wanted), "JPEG", quality=PREVIEW_QUALITY)

    def analysis_image(self, original_key: str, photo_size: tuple[int, int], format: str, sha256: str,
                       original: Callable[[], bytes]) -> DecodedImage:
        """The photo at the size the checks look at (1024 px), from its stored preview: what crops are planned on."""
        data = self._ladder(original_key, preview_side(ANALYSIS_LONG_SIDE, max(photo_size)), original)
        with Image.open(io.BytesIO(data)) as stored:
            rgb = stored.convert("RGB")
        return DecodedImage(image=rgb, format=format, sha256=sha256, original_size=photo_size, size=photo_size,
                            scale=rgb.width / photo_size[0], byte_count=len(data))

    def _ladder(self, original_key: str, side: int, original: Callable[[], bytes]) -> bytes:
        key = preview_key(original_key, side)
        try:
            return self._blobs.get(key)
        except BlobMissing:
            pass
        # 1. not made at upload (a side larger than intake's reduced decode): one reduced decode, then kept
        decoded = decode_image(original(), max_pixels=self._max_pixels, max_bytes=2**40,
                               max_decoded_bytes=self._max_decoded_bytes, min_long_side=side)
        data = encode_derivative(thumbnail(decoded.image, side), "JPEG", quality=PREVIEW_QUALITY)
        del decoded
        self._blobs.put(key, data)
        return data
