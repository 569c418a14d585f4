"""Crop before generation: cut the source to the final aspect ratio, then size it for the model.

Centred for now; face-aware framing plugs in by choosing a different `CropPlan.box`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image


@dataclass(frozen=True)
class CropPlan:
    """Where to cut the source (left, top, right, bottom in source pixels) and the size to resample to."""

    box: tuple[int, int, int, int]
    output_size: tuple[int, int]

    def apply(self, image: Image.Image) -> Image.Image:
        cropped = image.crop(self.box)
        if cropped.size == self.output_size:
            return cropped
        return cropped.resize(self.output_size, Image.Resampling.LANCZOS, reducing_gap=3.0)

    def as_dict(self) -> dict[str, list[int]]:
        return {"box": list(self.box), "output_size": list(self.output_size)}


def centred_box(source_size: tuple[int, int], ratio: tuple[float, float]) -> tuple[int, int, int, int]:
    """The largest box of the given W:H ratio centred in the source."""
    width, height = source_size
    target = ratio[0] / ratio[1]
    if width / height > target:  # source is wider: trim the sides
        crop_w, crop_h = max(1, round(height * target)), height
    else:  # source is taller: trim top and bottom
        crop_w, crop_h = width, max(1, round(width / target))
    left, top = (width - crop_w) // 2, (height - crop_h) // 2
    return left, top, left + crop_w, top + crop_h


def native_size(ratio: tuple[float, float], native_pixels: int, multiple: int = 8) -> tuple[int, int]:
    """An output size of about `native_pixels` pixels at the ratio, each side a multiple of `multiple`."""
    aspect = ratio[0] / ratio[1]
    width = math.sqrt(native_pixels * aspect)
    height = width / aspect
    return (
        max(multiple, round(width / multiple) * multiple),
        max(multiple, round(height / multiple) * multiple),
    )


def plan_crop(
    source_size: tuple[int, int],
    ratio: tuple[float, float] | None,
    native_pixels: int,
    explicit_size: tuple[int, int] | None = None,
) -> CropPlan:
    """Crop to the output size's ratio: `explicit_size`, or about `native_pixels` at `ratio` (the source's own when None)."""
    if ratio is None:
        ratio = (float(source_size[0]), float(source_size[1]))
    output = explicit_size or native_size(ratio, native_pixels)
    # Cut at the output's own ratio (sides rounded to multiples of 8) so nothing is stretched.
    return CropPlan(box=centred_box(source_size, (float(output[0]), float(output[1]))), output_size=output)
