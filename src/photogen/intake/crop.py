"""Crop before generation: cut the source to the final aspect ratio, then size it for the model.

`plan_crop` cuts the largest centred box; `plan_preset_crop` places a use-case preset's box on the face,
the salient subject or the centre. Either way the crop is a recorded plan, not an edit of the source.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image

from photogen.intake.faces import Face, largest_faces
from photogen.intake.presets import (
    HEADSHOT_EYES_FROM_TOP,
    HEADSHOT_FACE_SHARE,
    PORTRAIT_EYES_FROM_TOP,
    CropPreset,
    get_preset,
)

if TYPE_CHECKING:
    from photogen.intake.decode import DecodedImage


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
    multiple: int = 8,
) -> CropPlan:
    """Crop to the output size's ratio: `explicit_size`, or about `native_pixels` at `ratio` (the source's own when
    None) with sides in multiples of `multiple` (the model's size grid)."""
    if ratio is None:
        ratio = (float(source_size[0]), float(source_size[1]))
    output = explicit_size or native_size(ratio, native_pixels, multiple)
    # Cut at the output's own ratio (sides rounded to the model's multiple) so nothing is stretched.
    return CropPlan(box=centred_box(source_size, (float(output[0]), float(output[1]))), output_size=output)


# Preset crops: the box placed by the face, the salient subject or the centre (see presets.py).


@dataclass(frozen=True)
class PresetCrop:
    """A preset's crop of one photo: the plan (box in full-size source pixels) and how it was chosen."""

    plan: CropPlan
    preset: str
    anchor: str  # "face", "faces", "subject" or "centre": what the box was placed on
    target_size: tuple[int, int]  # the preset's delivered size (the box size for presets without one)
    upscale: float  # target over box, the larger of the two axes; above 1 the source cannot fill the preset

    def as_dict(self) -> dict[str, object]:
        return {
            **self.plan.as_dict(),
            "preset": self.preset,
            "anchor": self.anchor,
            "target_size": list(self.target_size),
            "upscale": round(self.upscale, 3),
        }


def plan_preset_crop(
    source_size: tuple[int, int],
    preset: CropPreset | str,
    *,
    faces: Sequence[Face] = (),
    subject: tuple[int, int, int, int] | None = None,
    native_pixels: int | None = None,
    explicit_size: tuple[int, int] | None = None,
    multiple: int = 8,
) -> PresetCrop:
    """Place `preset`'s box on a photo of `source_size` (full size, upright).

    `faces` (largest first) and `subject` (left, top, right, bottom) are in the same pixels. The plan's output
    size is `explicit_size`, else about `native_pixels` at the preset's ratio with sides in multiples of
    `multiple` (for the model), else the preset's own size (or the box's size for presets without one).

    The box has the preset's ratio, so the box suggested to a person (no `native_pixels`) is the box a model
    run uses; a model size rounded to multiples of 8 differs from that ratio by about 1%, which the resize
    absorbs. An `explicit_size` of another shape is a different request: the box then takes its ratio.
    """
    preset = get_preset(preset)
    width, height = source_size
    if explicit_size is not None:
        output: tuple[int, int] | None = explicit_size
    elif native_pixels is not None:
        output = native_size(preset.ratio, native_pixels, multiple)
    else:
        output = preset.size
    aspect = preset.ratio[0] / preset.ratio[1]
    if explicit_size is not None and abs(explicit_size[0] / explicit_size[1] / aspect - 1.0) > 0.02:
        aspect = explicit_size[0] / explicit_size[1]
    # 1. the largest box at the ratio: the most a placement may use
    full_w, full_h = (width, width / aspect) if width / height <= aspect else (height * aspect, height)
    # 2. size and anchor by framing
    people = largest_faces(faces) if preset.framing != "subject" else []
    if preset.framing == "headshot" and people:
        face = people[0]
        box_h = min(full_h, face.height / HEADSHOT_FACE_SHARE)
        box_w = box_h * aspect
        eyes_x, eyes_y = face.eyes_centre
        left, top, anchor = eyes_x - box_w / 2, eyes_y - HEADSHOT_EYES_FROM_TOP * box_h, "face"
    elif people:
        box_w, box_h = full_w, full_h
        across = [face.centre[0] for face in people]
        eyes_y = sum(face.eyes_centre[1] for face in people) / len(people)
        left = (min(across) + max(across)) / 2 - box_w / 2
        top = eyes_y - PORTRAIT_EYES_FROM_TOP * box_h
        anchor = "face" if len(people) == 1 else "faces"
    elif subject is not None:
        s_left, s_top, s_right, s_bottom = subject
        box_w, box_h = full_w, full_h
        if preset.framing == "subject":  # as tight as the clean margin allows
            room = 1.0 - 2.0 * preset.margin
            box_w = min(full_w, max((s_right - s_left) / room, (s_bottom - s_top) / room * aspect))
            box_h = box_w / aspect
        left = (s_left + s_right) / 2 - box_w / 2
        top = (s_top + s_bottom) / 2 - box_h / 2
        anchor = "subject"
    else:
        box_w, box_h = full_w, full_h
        left, top, anchor = (width - box_w) / 2, (height - box_h) / 2, "centre"
    box = _clamped_box(left, top, box_w, box_h, source_size)
    target = preset.size or (box[2] - box[0], box[3] - box[1])
    plan = CropPlan(box=box, output_size=output or target)
    upscale = max(target[0] / (box[2] - box[0]), target[1] / (box[3] - box[1]))
    return PresetCrop(plan=plan, preset=preset.name, anchor=anchor, target_size=target, upscale=upscale)


def move_crop(plan: CropPlan, source_size: tuple[int, int], dx: int, dy: int) -> CropPlan:
    """The same box moved by (dx, dy) source pixels, kept inside the photo: the user's adjustment."""
    left, top, right, bottom = plan.box
    box = _clamped_box(left + dx, top + dy, right - left, bottom - top, source_size)
    return CropPlan(box=box, output_size=plan.output_size)


def crop_decoded(decoded: DecodedImage, plan: CropPlan) -> Image.Image:
    """Apply a plan made in full-size coordinates to a decoded image that may be reduced (`decoded.scale`)."""
    if decoded.scale == 1.0:
        return plan.apply(decoded.image)
    box = tuple(round(value * decoded.scale) for value in plan.box)
    return CropPlan(box=box, output_size=plan.output_size).apply(decoded.image)  # type: ignore[arg-type]


def _clamped_box(
    left: float, top: float, box_w: float, box_h: float, source_size: tuple[int, int]
) -> tuple[int, int, int, int]:
    width, height = source_size
    box_w, box_h = max(1, min(width, round(box_w))), max(1, min(height, round(box_h)))
    left_i = int(min(max(0, round(left)), width - box_w))
    top_i = int(min(max(0, round(top)), height - box_h))
    return left_i, top_i, left_i + box_w, top_i + box_h
