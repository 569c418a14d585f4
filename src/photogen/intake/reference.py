"""What one reference photo shows: head angle, camera distance and light, measured on its pixels.

A reference is one photo of an identity set (one person or one product). For a person the numbers come from
the largest face: yaw from YuNet's five landmarks (`Face.yaw_degrees`), camera distance from the face box's
height as a share of the frame's height, light from the face's inner region. For a product, from the salient
subject's box. Pure functions of RGB uint8 pixels; what counts as covered lives in `photogen.scoring.coverage`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from photogen.intake.faces import Face

# Luma to linear light (sRGB treated as a 2.2 power curve), for comparing the two halves of a face in stops.
_LINEAR = (np.arange(256, dtype=np.float64) / 255.0) ** 2.2
_DARK_FLOOR = _LINEAR[16]  # differences below this level are not counted as stops


@dataclass(frozen=True)
class ReferenceMeasures:
    """Measured values of one reference. Angles in degrees, shares of the frame, luma 0-255, light in stops.

    `yaw_degrees`: 0 faces the camera; positive when the nose points to the image's right, negative to its left.
    `light_direction_stops`: how much brighter (linear light) the image-right half of the face or subject is
    than its left half; positive when the light comes from the image's right.
    """

    subject: str  # "face" or "product"
    frame_size: tuple[int, int]  # the pixels measured (width, height)
    face_count: int = 0
    yaw_degrees: float | None = None
    roll_degrees: float | None = None
    face_share: float | None = None  # face box height / frame height: larger is closer to the camera
    subject_share: float | None = None  # a product's box area / frame area
    brightness: float | None = None  # mean luma of the face's (or subject's) inner region
    light_direction_stops: float | None = None

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["frame_size"] = list(self.frame_size)
        return {key: round(value, 4) if isinstance(value, float) else value for key, value in values.items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ReferenceMeasures:
        known = {key: values[key] for key in cls.__dataclass_fields__ if key in values}
        known["frame_size"] = tuple(known.get("frame_size") or (0, 0))
        return cls(**known)


def measure_face(rgb: np.ndarray, face: Face, face_count: int = 1) -> ReferenceMeasures:
    """A person's reference: `face` in `rgb`'s own coordinates (the largest one of `face_count` found)."""
    from photogen.intake import measures  # OpenCV loads with the first measurement, not with this module

    gray = measures.luma(rgb)
    height = gray.shape[0]
    brightness, direction = _light(gray, _face_inner_box(face))
    return ReferenceMeasures(
        subject="face",
        frame_size=(gray.shape[1], height),
        face_count=face_count,
        yaw_degrees=face.yaw_degrees,
        roll_degrees=face.roll_degrees,
        face_share=face.height / height,
        brightness=brightness,
        light_direction_stops=direction,
    )


def measure_product(rgb: np.ndarray) -> ReferenceMeasures:
    """A product's reference: its salient subject's size and light (the whole frame when nothing stands out)."""
    from photogen.intake import measures
    from photogen.intake.saliency import subject_box

    gray = measures.luma(rgb)
    height, width = gray.shape
    box = subject_box(rgb) or (0, 0, width, height)
    left, top, right, bottom = box
    region = (left, top, right - left, bottom - top)
    brightness, direction = _light(gray, region)
    return ReferenceMeasures(
        subject="product",
        frame_size=(width, height),
        subject_share=(right - left) * (bottom - top) / (width * height),
        brightness=brightness,
        light_direction_stops=direction,
    )


def _face_inner_box(face: Face) -> tuple[float, float, float, float]:
    """The skin between brows and chin: the box without hair, ears and background at its edges."""
    x, y, w, h = face.box
    return x + 0.15 * w, y + 0.2 * h, 0.7 * w, 0.7 * h


def _light(gray: np.ndarray, box: tuple[float, float, float, float]) -> tuple[float | None, float | None]:
    """Mean luma of the box, and the stops between its right and its left half."""
    from photogen.intake import measures

    region = measures.crop_region(gray, box)
    if region is None:
        return None, None
    brightness = float(region.mean())
    cut = region.shape[1] // 2
    left = float(_LINEAR[region[:, :cut]].mean())
    right = float(_LINEAR[region[:, cut:]].mean())
    direction = math.log2((right + _DARK_FLOOR) / (left + _DARK_FLOOR))
    return brightness, direction
