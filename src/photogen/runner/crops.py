"""The sources and crops a worker made lately, kept for the next jobs on the same photo.

People work on one photo at a time: seeds, prompts, image strengths and sweeps over one upload, and the
batch window's head is prepared ahead of its claim again and again for it. Decoding the upload and cutting,
scoring and encoding its crop gives the same result every time for the same bytes and the same plan, so the
worker keeps the last few: a decoded source by the SHA-256 of its bytes, a crop (with its face and structure
half for the review scores, and its PNG for the crop asset) by that SHA-256 and the crop plan. Both are
bounded by count and by pixels, and shared by the prefetch thread and the worker's own.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PIL import Image

from photogen.intake.crop import CropPlan, crop_decoded
from photogen.intake.decode import DecodedImage
from photogen.runner.generate import source_face, source_structure
from photogen.runner.sinks import crop_png

SOURCES_KEPT = 4
SOURCE_PIXELS_KEPT = 64_000_000  # about 190 MB of RGB: a few full-size phone photos
CROPS_KEPT = 16

Key = TypeVar("Key")
Value = TypeVar("Value")


@dataclass(frozen=True)
class ReadyCrop:
    """A source cut by a plan, with what the run needs of it besides the pixels the model reads."""

    image: Image.Image
    face: Any  # the crop's face embedding for the identity scores, or NO_FACE
    structure: Any  # its half of the structure score (a StructureSource)
    png: bytes  # the crop asset's file


class Recent(Generic[Key, Value]):
    """A small least-recently-used map, bounded by entries and by a size each value is given."""

    def __init__(self, entries: int, max_size: int | None = None, size: Callable[[Value], int] = lambda value: 1):
        self.entries, self.max_size, self.size = entries, max_size, size
        self._values: OrderedDict[Key, Value] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key, make: Callable[[], Value]) -> Value:
        """The kept value of `key`, or `make()`'s, kept (two threads asking at once may both make it)."""
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = make()
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self.entries or (
                    self.max_size is not None and len(self._values) > 1
                    and sum(self.size(v) for v in self._values.values()) > self.max_size):
                self._values.popitem(last=False)
        return value

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)


class CropCache:
    """Decoded sources by SHA-256, and ready crops by SHA-256 and plan (see the module docstring)."""

    def __init__(self, *, sources: int = SOURCES_KEPT, source_pixels: int = SOURCE_PIXELS_KEPT,
                 crops: int = CROPS_KEPT) -> None:
        self._sources: Recent[str, DecodedImage] = Recent(
            sources, source_pixels, lambda decoded: decoded.image.width * decoded.image.height)
        self._crops: Recent[tuple[str, tuple[int, ...], tuple[int, int]], ReadyCrop] = Recent(crops)

    def decoded(self, sha256: str, decode: Callable[[], DecodedImage]) -> DecodedImage:
        return self._sources.get(sha256, decode)

    def crop(self, decoded: DecodedImage, plan: CropPlan) -> ReadyCrop:
        key = (decoded.sha256, tuple(plan.box), tuple(plan.output_size))
        return self._crops.get(key, lambda: ready_crop(crop_decoded(decoded, plan)))


def ready_crop(image: Image.Image) -> ReadyCrop:
    return ReadyCrop(image, source_face(image), source_structure(image), crop_png(image))
