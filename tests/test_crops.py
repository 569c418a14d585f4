from __future__ import annotations

import numpy as np
from PIL import Image

from photogen.intake.crop import CropPlan
from photogen.intake.decode import DecodedImage
from photogen.runner.crops import CropCache, Recent
from photogen.runner.sinks import crop_png


def decoded(sha256: str, side: int = 64) -> DecodedImage:
    pixels = np.random.default_rng(len(sha256)).integers(0, 255, (side, side, 3), dtype=np.uint8)
    return DecodedImage(image=Image.fromarray(pixels), format="PNG", sha256=sha256, original_size=(side, side))


def test_recent_keeps_the_last_used_within_its_count_and_size():
    made = []
    recent: Recent[str, int] = Recent(entries=2, max_size=10, size=lambda value: value)

    def make(value: int):
        return lambda: (made.append(value), value)[1]

    assert recent.get("a", make(4)) == 4 and recent.get("b", make(4)) == 4
    assert recent.get("a", make(99)) == 4  # kept: not made again, and now the most recent
    recent.get("c", make(4))  # three entries: "b", the least recently used, goes
    assert recent.get("b", make(5)) == 5 and made == [4, 4, 4, 5]
    recent.get("d", make(9))  # over the size: the older ones go, the newest always stays
    assert len(recent) == 1 and recent.get("d", make(0)) == 9


def test_a_crop_is_cut_scored_and_encoded_once_per_photo_and_plan():
    cache = CropCache()
    photo = decoded("a" * 64)
    plan = CropPlan((0, 0, 48, 48), (32, 32))
    first = cache.crop(photo, plan)
    assert first.image.size == (32, 32) and first.png == crop_png(first.image)
    assert cache.crop(photo, CropPlan((0, 0, 48, 48), (32, 32))) is first
    other = cache.crop(photo, CropPlan((16, 16, 64, 64), (32, 32)))  # another plan: another crop
    assert other is not first and not np.array_equal(np.asarray(other.image), np.asarray(first.image))
    assert cache.crop(decoded("b" * 64), plan) is not first  # another photo: another crop


def test_decoded_sources_are_kept_by_their_digest_within_a_pixel_budget():
    cache = CropCache(sources=4, source_pixels=64 * 64 * 2)
    loads = []

    def load(sha256: str):
        return lambda: (loads.append(sha256), decoded(sha256))[1]

    a = cache.decoded("a" * 64, load("a"))
    assert cache.decoded("a" * 64, load("a")) is a and loads == ["a"]
    cache.decoded("b" * 64, load("b"))
    cache.decoded("c" * 64, load("c"))  # three 64x64 photos are over the budget of two: "a" goes
    cache.decoded("a" * 64, load("a"))
    assert loads == ["a", "b", "c", "a"]
