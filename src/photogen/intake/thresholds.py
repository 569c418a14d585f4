"""Every preflight threshold, in one place, with what it measures and how its numbers were chosen.

Pixel measurements are taken on the analysis image: the photo with its long side shrunk to
ANALYSIS_LONG_SIDE (never enlarged), the scale generation works at. Sizes in pixels (resolution, face
size) refer to the full-size photo. The numbers were calibrated with `python -m photogen.intake.calibration`
on the photographs that ship with scikit-image and matplotlib and on versions of them degraded step by step;
docs/intake.md records the table it printed and the reasoning.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

ANALYSIS_LONG_SIDE = 1024
# A JPEG is decoded at the smallest libjpeg scale whose long side still reaches this (then shrunk to 1024).
ANALYSIS_MIN_DECODE_SIDE = 768
# Below this short side the pixel measurements mean nothing; only the resolution check is reported.
MIN_MEASURABLE_SIDE = 32


class Level(str, Enum):
    """How much a finding matters: ok, warn (the result will suffer), block (do not spend GPU time on it)."""

    OK = "ok"
    WARN = "warn"
    BLOCK = "block"

    @property
    def rank(self) -> int:
        return ("ok", "warn", "block").index(self.value)

    @classmethod
    def worst(cls, levels: list[Level] | tuple[Level, ...]) -> Level:
        return max(levels, key=lambda level: level.rank, default=cls.OK)


@dataclass(frozen=True)
class Threshold:
    """The ok band of one measured value: warn or block below/above the given limits (None: no limit)."""

    name: str
    unit: str
    meaning: str
    calibration: str
    warn_below: float | None = None
    block_below: float | None = None
    warn_above: float | None = None
    block_above: float | None = None

    def level(self, value: float) -> Level:
        if (self.block_below is not None and value < self.block_below) or (
            self.block_above is not None and value > self.block_above
        ):
            return Level.BLOCK
        if (self.warn_below is not None and value < self.warn_below) or (
            self.warn_above is not None and value > self.warn_above
        ):
            return Level.WARN
        return Level.OK

    def describe(self) -> str:
        parts = []
        for verb, below, above in (
            ("warn", self.warn_below, self.warn_above),
            ("block", self.block_below, self.block_above),
        ):
            limits = []
            if below is not None:
                limits.append(f"below {below:g}")
            if above is not None:
                limits.append(f"above {above:g}")
            if limits:
                parts.append(f"{verb} {' or '.join(limits)}")
        return "; ".join(parts) if parts else "informational"

    def as_dict(self) -> dict[str, Any]:
        return {
            "warn_below": self.warn_below,
            "block_below": self.block_below,
            "warn_above": self.warn_above,
            "block_above": self.block_above,
            "text": self.describe(),
        }


RESOLUTION = Threshold(
    "resolution",
    "px (short side)",
    "the short side of the full-size photo",
    "models work at 512-1024 px: below 512 they must invent detail; at 200 px every sample photo's face "
    "fell to 23-72 px and lost identity detail",
    warn_below=512,
    block_below=256,
)
CROP_FILL = Threshold(
    "crop_fill",
    "x upscale",
    "how much the preset's crop must be enlarged to reach the preset's size",
    "1.0 means the source fills the preset; the upscale pass enlarges up to x4, beyond that detail is invented",
    warn_above=1.05,
    block_above=4.0,
)
SHARPNESS = Threshold(
    "sharpness",
    "Laplacian variance",
    "variance of the Laplacian over the whole analysis image",
    "clean photos 400-1540; Gaussian blur sigma 1: 22-81, sigma 1.5: 6-27, sigma 2: 3-13, sigma 3: 1.6-4.7. "
    "Added noise raises it, so a noisy blurred photo reads sharp (the noise check catches it)",
    warn_below=25,
    block_below=5,
)
FACE_SHARPNESS = Threshold(
    "face_sharpness",
    "Laplacian variance",
    "variance of the Laplacian on the face, resampled to 128 px high",
    "from SFace identity similarity of each blurred face to its clean self: under 16 it had fallen below "
    "0.85 (astronaut sigma 2: 11.4 / 0.83); under 5 it was 0.30-0.47 (astronaut sigma 4, cameraman sigma 3-4)",
    warn_below=16,
    block_below=5,
)
EXPOSURE = Threshold(
    "exposure",
    "mean luma (0-255)",
    "average brightness of the photo",
    "clean photos 61 (the rocket at night) to 129; 3 stops under: 24-50; 2 stops over: 112-209. Mean "
    "brightness alone cannot tell a night scene from an underexposed one, so the warn band is wide",
    warn_below=50,
    block_below=25,
    warn_above=170,
    block_above=230,
)
CLIPPED_SHADOWS = Threshold(
    "clipped_shadows",
    "share of pixels",
    "pure black (luma 4 or below) on the face, else the subject",
    "clean photos up to 0.01 and 3 stops under up to 0.04 on the subject; a tenth gone to black is lost detail",
    warn_above=0.1,
)
CLIPPED_HIGHLIGHTS = Threshold(
    "clipped_highlights",
    "share of pixels",
    "pure white (luma 251 or above) on the face, else the subject",
    "clean photos up to 0.007; 1 stop over: 0.05-0.31; 2 stops over: 0.11-0.59 (the astronaut's face "
    "mostly white). Measured on the subject so a white backdrop or a bright sky is not counted",
    warn_above=0.05,
    block_above=0.4,
)
CONTRAST = Threshold(
    "contrast",
    "luma range (1st-99th percentile)",
    "how much of the tonal range the photo uses",
    "clean photos 154-248; contrast halved: 77-124; cut to a third: 51-82; cut to 0.15: 23-37",
    warn_below=90,
    block_below=40,
)
BACKLIGHT = Threshold(
    "backlight",
    "stops",
    "how much brighter (linear light) the background is than the centre of the face",
    "clean portraits -1.2 to 0.5 (the cameraman stands against the sky); a simulated window behind the "
    "person (subject -2 stops, background +1) measured 1.4-3.2. Above 4 stops the face is a silhouette",
    warn_above=1.2,
    block_above=4.0,
)
NOISE = Threshold(
    "noise",
    "sigma (0-255)",
    "Gaussian noise estimated from the finest diagonal wavelet band",
    "clean photos 0.4-2.0 (up to 3.4 shrunk); added noise sigma 5: 3.8-4.8, sigma 10: 6.6-7.9, "
    "sigma 25: 14.8-16.8, sigma 40: 22-26",
    warn_above=5,
    block_above=14,
)
COMPRESSION = Threshold(
    "compression",
    "JPEG quality",
    "the JPEG quality the file's quantisation table corresponds to (JPEG only)",
    "the estimate returns the quality libjpeg saved with; at 50 blocks begin to show in flat areas "
    "(blockiness 1.34-1.72), at 20 and below they show everywhere (1.71-3.09)",
    warn_below=50,
    block_below=20,
)
BLOCKINESS = Threshold(
    "blockiness",
    "ratio",
    "how much stronger pixel steps are on the 8x8 JPEG grid than between it (1 = none)",
    "clean photos 1.02-1.19 (two of them are JPEGs already); quality 50: 1.34-1.72; quality 30: 1.51-1.95; "
    "quality 10: 2.11-3.09",
    warn_above=1.5,
    block_above=2.0,
)
SCREENSHOT = Threshold(
    "screenshot",
    "hints",
    "signs of a screenshot or social re-share (screen sizes, flat bars, no camera data)",
    "one hint alone is common in real photos (no camera data after an export), so only two or more warn",
    warn_above=1.5,
)
FACE_COUNT = Threshold(
    "face_count",
    "faces",
    "prominent faces found by YuNet (at least half the largest face's height)",
    "uses that need one person block with none and warn with several",
    block_below=1,
    warn_above=1,
)
FACES_FOUND = Threshold(
    "face_count",
    "faces",
    "faces found by YuNet",
    "informational for uses that do not need a face",
)
FACE_SIZE = Threshold(
    "face_size",
    "share of frame height",
    "the face's height as a share of the photo's height",
    "generation distorts faces under about 5% of the frame; above 60% no head-and-shoulders crop fits",
    warn_below=0.05,
    warn_above=0.6,
)
FACE_RESOLUTION = Threshold(
    "face_resolution",
    "px (face height)",
    "the face's height in the full-size photo",
    "from SFace identity similarity of each face shrunk to a height and enlarged back: 0.94-0.95 at 48 px, "
    "0.75-0.83 at 28 px, 0.62-0.69 at 20 px",
    warn_below=48,
    block_below=28,
)
FACE_CUTOFF = Threshold(
    "face_cutoff",
    "share of head outside",
    "how much of the head is outside the frame",
    "head = the face box the landmarks imply, widened 10% each side, 40% up and 10% down. Cutting the "
    "photo through the face at 10% of its width measured 0.04-0.14, at 25% 0.08-0.28, at 40% 0.11-0.32",
    warn_above=0.02,
    block_above=0.25,
)
FACE_TILT = Threshold(
    "face_tilt",
    "degrees",
    "head tilt from the eye line",
    "rotated portraits: Grace Hopper read 11/15/19/23 at 10/20/25/30 degrees, but YuNet's quantised "
    "landmarks barely follow rotation on small faces (the astronaut read under 3 at 30); clean faces read "
    "under 2, so the limit is low",
    warn_above=12,
)
FACE_TURN = Threshold(
    "face_turn",
    "degrees (approx.)",
    "head turn estimated from the nose tip's offset from the face midline",
    "frontal portraits read 1-3 clean and under 17 degraded; the cameraman in scikit-image's camera photo, "
    "turned to his camera, read 62",
    warn_above=30,
    block_above=50,
)

FACE_OCCLUSION = Threshold(
    "face_occlusion",
    "features covered",
    "how many of the two eyes and the mouth are covered (sunglasses, hair, a hand, a mask)",
    "each eye and the mouth on the aligned face, against plain skin of the same face: covered when at least "
    "0.6 of it is under 0.45 times the skin's luma (sunglasses 0.99-1.00, hair 0.67-1.00; uncovered 0.00-0.40) "
    "or when its luma range is under 0.6 times plain skin's (a hand 0.11-0.22, a mask 0.18-0.19; uncovered eyes "
    "1.76 and up, mouths 1.16 and up, under blur, noise, JPEG, light, filters and enlargement)",
    warn_above=0.5,
    block_above=1.5,
)
FACE_EXPOSURE = Threshold(
    "face_exposure",
    "skin luma (0-255)",
    "median brightness of the face's skin (cheeks, forehead, nose)",
    "clean faces 161-168 (the cameraman 132); the face alone 2 stops darker: 77-90, 3 stops: 59-67, 4 stops: "
    "44-50; the whole photo 2 stops darker: 71-89. Well-exposed skin reads from about 80 (the darkest skin) to "
    "over 200, so the warn limit sits just under it: only a strongly underexposed face warns",
    warn_below=70,
    block_below=35,
    warn_above=225,
)
FACE_COLOUR = Threshold(
    "face_colour",
    "CIELAB a*b* distance",
    "how far the skin's colour lies outside the range of skin photographed in neutral light",
    "neutral skin: hue angle 30-80 degrees, chroma 6-50 (clean faces: hue 51 and 68, chroma 22 and 36). "
    "Magenta light (linear gains 1.3/0.65/1.3) measured 5.7-11.3, green 1.2-17, blue 0-4.9; warm tungsten "
    "0-3.5. Black-and-white photos are not judged",
    warn_above=5,
)
SKIN_SMOOTHING = Threshold(
    "skin_smoothing",
    "ratio",
    "fine texture on the face's skin over fine texture in the rest of the photo",
    "clean faces 1.43-2.28, and 1.08-5.79 under blur, noise, JPEG, light and enlargement; a beauty filter "
    "(two bilateral passes on the face) 0.31-0.59, half of it 0.93-1.41; a face 2 stops darker than the rest "
    "0.77-1.17 (darker faces are not judged: texture scales with light)",
    warn_below=0.7,
)
SHARPENING_HALOS = Threshold(
    "sharpening_halos",
    "overshoot share",
    "mean overshoot on both sides of strong edges, as a share of the edge's step",
    "clean photos 0.025-0.054 (noise sigma 25: up to 0.084); unsharp mask amount 1 radius 1: 0.048-0.131, "
    "amount 1.5 radius 2: 0.091-0.192, amount 2 radius 2: 0.110-0.216",
    warn_above=0.1,
)
SATURATION = Threshold(
    "saturation",
    "share of pixels",
    "colourful pixels with a channel pushed to zero (after a 1 px blur, so noise does not count)",
    "clean photos at most 0.002 (JPEG quality 20: 0.014); saturation x1.3: 0-0.33, x1.6: 0.007-0.54, "
    "x2: 0.13-0.64 (the night-time rocket has little colour to push)",
    warn_above=0.03,
)
EFFECTIVE_RESOLUTION = Threshold(
    "effective_resolution",
    "x enlarged",
    "how many times the photo was enlarged from a smaller copy: repeated pixels, or no detail above the "
    "small copy's Nyquist frequency",
    "clean, noisy, compressed, darkened and coloured photos 1.0; 150 px copies enlarged to 1024 px: bicubic "
    "7.7-10.7, Lanczos 7.0-17.7, nearest 6.9 (exact), bilinear 2.2-7.1; 300 px to 1024 px: 2.5-3.0. Blur "
    "sigma 1: 1.6-1.8, 1.5: 2.5-2.9, 2: 3.6-4.3 (a blurred photo holds the detail of a smaller one)",
    warn_above=2.0,
    block_above=4.5,
)
ANIMATION = Threshold(
    "animation",
    "frames",
    "frames in an animated GIF, PNG or WebP (the first is used)",
    "any animation warns: the first frame may not be the photo meant",
    warn_above=1,
)

ALL_THRESHOLDS: tuple[Threshold, ...] = (
    RESOLUTION, CROP_FILL, SHARPNESS, FACE_SHARPNESS, EXPOSURE, CLIPPED_SHADOWS, CLIPPED_HIGHLIGHTS, CONTRAST,
    BACKLIGHT, NOISE, COMPRESSION, BLOCKINESS, SCREENSHOT, FACE_COUNT, FACES_FOUND, FACE_SIZE, FACE_RESOLUTION,
    FACE_CUTOFF, FACE_TILT, FACE_TURN, FACE_OCCLUSION, FACE_EXPOSURE, FACE_COLOUR, SKIN_SMOOTHING, SHARPENING_HALOS,
    SATURATION, EFFECTIVE_RESOLUTION, ANIMATION,
)  # fmt: skip

# Face occlusion: a feature is covered when this share of it is far darker than the skin, or when its detail
# (luma range over plain skin's) is under this limit.
OCCLUSION_DARK_SHARE = 0.6
OCCLUSION_MIN_DETAIL = 0.6
# Occlusion and skin texture are judged on faces at least this tall in the analysis image, turned at most
# FACE_TURN's warn limit: smaller or turned faces put the template's regions in the wrong places.
FACE_DETAIL_MIN_HEIGHT = 40
# Skin photographed in neutral light: CIELAB hue angles and chromas (face colour is judged against these).
NEUTRAL_SKIN_HUES = (30.0, 80.0)
NEUTRAL_SKIN_CHROMA = (6.0, 50.0)
MONOCHROME_SPREAD = (
    12  # a photo whose 95th-percentile channel spread (max - min) is below this is black and white
)

# Screen sizes (either orientation): exact matches hint at a screenshot.
SCREEN_SIZES = frozenset({
    (1280, 720), (1280, 800), (1366, 768), (1440, 900), (1536, 864), (1600, 900), (1680, 1050), (1920, 1080),
    (1920, 1200), (2560, 1440), (2560, 1600), (2880, 1800), (3024, 1964), (3456, 2234), (3840, 2160),
    (1334, 750), (1792, 828), (1920, 1080), (2340, 1080), (2400, 1080), (2436, 1125), (2532, 1170),
    (2556, 1179), (2688, 1242), (2778, 1284), (2796, 1290), (3120, 1440), (3200, 1440), (1600, 720),
})  # fmt: skip
# Long sides that messengers and social networks resize photos to.
RESHARE_LONG_SIDES = frozenset({640, 720, 960, 1080, 1280, 1350, 1600, 2048})
RESHARE_MAX_QUALITY = 70  # re-shared photos are recompressed at or below about this quality
FLAT_BORDER_SHARE = 0.04  # uniform bands at the edges covering this share of the frame hint at app chrome


@dataclass(frozen=True)
class UseProfile:
    """What one use needs: its crop preset, whether it needs a face, whether face problems may block."""

    name: str
    description: str
    preset: str | None
    needs_face: bool = False
    face_checks: bool = True  # run the face size, resolution, cut-off, tilt and turn checks
    strict_faces: bool = False  # face problems may block; otherwise they warn at most


USES: dict[str, UseProfile] = {
    use.name: use
    for use in (
        UseProfile("general", "any image-to-image generation from this photo", None),
        UseProfile("headshot", "professional headshot (LinkedIn), 4:5 head and shoulders", "headshot",
                   needs_face=True, strict_faces=True),
        UseProfile("instagram-square", "Instagram post, 1:1", "instagram-square"),
        UseProfile("instagram-portrait", "Instagram post, 4:5 portrait", "instagram-portrait"),
        UseProfile("product-hero", "product hero image, 16:9 with a clean margin", "product-hero",
                   face_checks=False),
        UseProfile("product-square", "product image, 1:1 with a clean margin", "product-square",
                   face_checks=False),
        UseProfile("poster", "poster or print at 300 DPI", "poster"),
    )
}  # fmt: skip
USE_ALIASES = {
    "linkedin": "headshot",
    "instagram": "instagram-square",
    "product": "product-hero",
    "print": "poster",
}
