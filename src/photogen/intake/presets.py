"""Crop presets for the uses people bring photos for. Data only; `crop.plan_preset_crop` places the box.

A preset is named by a spec string:
- a name: `headshot` (alias `linkedin`), `instagram-square` (`instagram`), `instagram-portrait`,
  `product-hero` (`product`), `product-square`, `poster` (`print`: 18x24 in at 300 DPI);
- `poster:WxH[in|cm][@DPI]`, e.g. `poster:50x70cm@300` or `poster:8x10in`: any print size (DPI 300 when left out);
- `custom:W:H`, e.g. `custom:3:2`: any ratio, cut at the largest size the photo allows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from photogen.domain.errors import InvalidRequest

Framing = Literal["headshot", "portrait", "subject"]

# Headshot framing: the face (YuNet's brow-to-chin box) fills this share of the crop height, and the
# eyes sit this far down from the top. The brief: eyes about 40% from the top, face a third to half high.
HEADSHOT_FACE_SHARE = 0.4
HEADSHOT_EYES_FROM_TOP = 0.4
# Portrait framing (square, 4:5, posters) with faces: the eyes sit on the upper third line.
PORTRAIT_EYES_FROM_TOP = 1 / 3
# Product framing: the subject keeps this clean margin on every side, as a share of the crop.
PRODUCT_MARGIN = 0.1

DEFAULT_DPI = 300


@dataclass(frozen=True)
class CropPreset:
    """A target: its W:H ratio, the size it is delivered at, and how the box is placed on the photo."""

    name: str
    description: str
    ratio: tuple[float, float]
    size: tuple[int, int] | None  # delivered size in pixels; None: the crop's own size
    framing: Framing
    margin: float = 0.0  # subject framing: clean margin on each side, share of the crop
    dpi: int | None = None  # print presets

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "description": self.description,
            "ratio": list(self.ratio),
            "size": list(self.size) if self.size else None,
            "framing": self.framing,
            "margin": self.margin,
            "dpi": self.dpi,
        }


PRESETS: dict[str, CropPreset] = {
    preset.name: preset
    for preset in (
        CropPreset("headshot", "professional headshot (LinkedIn): 4:5, head and shoulders, eyes 40% from the top",
                   (4, 5), (800, 1000), "headshot"),
        CropPreset("instagram-square", "Instagram square post, 1080x1080", (1, 1), (1080, 1080), "portrait"),
        CropPreset("instagram-portrait", "Instagram portrait post, 4:5, 1080x1350", (4, 5), (1080, 1350),
                   "portrait"),
        CropPreset("product-hero", "product hero banner, 16:9 with a clean margin around the subject", (16, 9),
                   (1920, 1080), "subject", margin=PRODUCT_MARGIN),
        CropPreset("product-square", "product image, 1:1 with a clean margin around the subject", (1, 1),
                   (1600, 1600), "subject", margin=PRODUCT_MARGIN),
        CropPreset("poster", "poster, 18x24 in at 300 DPI (portrait)", (3, 4), (5400, 7200), "portrait",
                   dpi=DEFAULT_DPI),
    )
}  # fmt: skip
ALIASES = {
    "linkedin": "headshot",
    "instagram": "instagram-square",
    "product": "product-hero",
    "print": "poster",
}

# ASCII digits only, matched whole (`fullmatch`): a trailing newline or "４" is an unknown spec, not a loose read.
_POSTER = re.compile(r"poster:([0-9]+(?:\.[0-9]+)?)x([0-9]+(?:\.[0-9]+)?)(in|cm)?(?:@([0-9]+))?", re.ASCII)
_CUSTOM = re.compile(r"custom:([0-9]+(?:\.[0-9]+)?):([0-9]+(?:\.[0-9]+)?)", re.ASCII)


def preset_names() -> list[str]:
    return [*PRESETS, "poster:WxH[in|cm][@DPI]", "custom:W:H"]


def get_preset(spec: str | CropPreset) -> CropPreset:
    """The preset a spec string names (see the module docstring); refuses unknown names with the valid ones."""
    if isinstance(spec, CropPreset):
        return spec
    key = spec.strip(" ").lower()
    key = ALIASES.get(key, key)
    if key in PRESETS:
        return PRESETS[key]
    if poster := _POSTER.fullmatch(key):
        width, height = float(poster[1]), float(poster[2])
        inches = 2.54 if poster[3] == "cm" else 1.0
        dpi = int(poster[4] or DEFAULT_DPI)
        if min(width, height) <= 0 or not 1 <= dpi <= 2400:
            raise _bad_spec(spec)
        size = (round(width / inches * dpi), round(height / inches * dpi))
        unit = poster[3] or "in"
        return CropPreset(
            f"poster:{poster[1]}x{poster[2]}{unit}@{dpi}",
            f"print, {poster[1]}x{poster[2]} {unit} at {dpi} DPI",
            (width, height),
            size,
            "portrait",
            dpi=dpi,
        )
    if custom := _CUSTOM.fullmatch(key):
        width, height = float(custom[1]), float(custom[2])
        if min(width, height) <= 0 or max(width / height, height / width) > 10:
            raise _bad_spec(spec)
        return CropPreset(f"custom:{custom[1]}:{custom[2]}", f"custom ratio {custom[1]}:{custom[2]}",
                          (width, height), None, "portrait")  # fmt: skip
    raise _bad_spec(spec)


def _bad_spec(spec: str) -> InvalidRequest:
    return InvalidRequest(
        f"unknown crop preset {spec!r}",
        hint="use one of " + ", ".join(preset_names()),
        code="unknown_preset",
    )
