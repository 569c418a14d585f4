"""Measurements inside a detected face: what covers it, how it is lit, and whether its skin was smoothed.

The face is first warped onto a 112 px template by its five landmarks (a similarity transform, the
alignment face recognisers use), so the eyes, the mouth and the skin patches sit at fixed places whatever
the face's size, position or tilt. Every function takes RGB uint8 analysis pixels and a `Face` in the
same coordinates; what counts as good or bad lives in `thresholds.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from photogen.intake.faces import Face

TEMPLATE_SIZE = 112
# Where the five landmarks land on the template (the ArcFace / SFace alignment targets, 112 x 112).
TEMPLATE_LANDMARKS = np.array(
    [[38.29, 51.70], [73.53, 51.50], [56.03, 71.74], [41.55, 92.37], [70.73, 92.20]], np.float32
)
Box = tuple[int, int, int, int]  # x0, y0, x1, y1 on the template
# The features a cover hides, tight around their landmarks.
FEATURES: dict[str, Box] = {
    "right eye": (28, 45, 49, 58),
    "left eye": (63, 45, 84, 58),
    "mouth": (38, 86, 74, 99),
}
# Plain skin to compare them with, away from what covers them: cheeks beside the nose for the eyes (sunglasses
# and hair across the eyes stop above them), forehead and upper cheeks for the mouth (a hand or mask stops below).
SKIN_FOR_EYES: tuple[Box, ...] = ((20, 67, 36, 78), (76, 67, 92, 78))
SKIN_FOR_MOUTH: tuple[Box, ...] = ((40, 22, 72, 36), (24, 60, 34, 68), (78, 60, 88, 68))
# Skin for the face's brightness, colour and texture: both cheeks, the forehead and the bridge of the nose.
SKIN: tuple[Box, ...] = ((20, 64, 36, 80), (76, 64, 92, 80), (40, 22, 72, 36), (48, 58, 64, 70))
# Named hues of CIELAB a*b* directions (degrees), for naming a colour cast.
HUES = (("red", 15.0), ("orange", 55.0), ("yellow", 95.0), ("green", 150.0), ("cyan", 210.0),
        ("blue", 270.0), ("magenta", 325.0))  # fmt: skip


@dataclass(frozen=True)
class FeatureCover:
    """How one facial feature looks against the face's plain skin."""

    name: str  # "right eye", "left eye", "mouth" (the person's right)
    dark_share: float  # share of its pixels under DARK_FACTOR times the skin's luma: sunglasses, dark hair
    detail: float  # its luma range (5th-95th percentile) over plain skin's: about 1 for a hand or a mask

    def covered_by(self, dark_share: float, min_detail: float) -> str | None:
        """What covers the feature, in words, or None when it shows."""
        if self.dark_share >= dark_share:
            return "something dark"
        if self.detail < min_detail:
            return "something plain"
        return None


@dataclass(frozen=True)
class SkinTone:
    """The face's skin as the camera saw it: median luma and CIELAB colour of the skin patches."""

    luma: float  # 0-255
    lightness: float  # CIELAB L*, 0-100
    a: float  # CIELAB a* (green -, red +)
    b: float  # CIELAB b* (blue -, yellow +)
    shadows_clipped: float  # share of the face's skin at luma <= 4
    highlights_clipped: float  # share of the face's skin at luma >= 251

    @property
    def chroma(self) -> float:
        return float(np.hypot(self.a, self.b))

    @property
    def hue(self) -> float:
        return float(np.degrees(np.arctan2(self.b, self.a)) % 360.0)


DARK_FACTOR = 0.45  # "dark" means under this share of the skin's luma (sunglasses read 0.17-0.21 of it)


def aligned_face(rgb: np.ndarray, face: Face) -> np.ndarray | None:
    """The face warped onto the 112 px template by its landmarks, or None when they do not fix a transform."""
    matrix = _template_transform(face)
    if matrix is None:
        return None
    return cv2.warpAffine(rgb, matrix, (TEMPLATE_SIZE, TEMPLATE_SIZE), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_REPLICATE)  # fmt: skip


def feature_covers(template: np.ndarray) -> list[FeatureCover]:
    """Each eye and the mouth against plain skin of the same face (template pixels from `aligned_face`)."""
    luma = cv2.cvtColor(template, cv2.COLOR_RGB2GRAY).astype(np.float32)
    covers = []
    for name, box in FEATURES.items():
        references = SKIN_FOR_EYES if name.endswith("eye") else SKIN_FOR_MOUTH
        skin = float(np.median(_pool(luma, references)))
        plain_range = float(np.median([_spread(_patch(luma, ref)) for ref in references]))
        pixels = _patch(luma, box)
        covers.append(FeatureCover(
            name=name,
            dark_share=float((pixels < DARK_FACTOR * skin).mean()),
            detail=_spread(pixels) / max(plain_range, 2.0),
        ))  # fmt: skip
    return covers


def skin_tone(template: np.ndarray) -> SkinTone:
    luma = cv2.cvtColor(template, cv2.COLOR_RGB2GRAY)
    lab = cv2.cvtColor(template, cv2.COLOR_RGB2LAB).astype(np.float32)
    skin_luma = _pool(luma, SKIN)
    return SkinTone(
        luma=float(np.median(skin_luma)),
        lightness=float(np.median(_pool(lab[..., 0], SKIN))) * 100.0 / 255.0,
        a=float(np.median(_pool(lab[..., 1], SKIN))) - 128.0,
        b=float(np.median(_pool(lab[..., 2], SKIN))) - 128.0,
        shadows_clipped=float((skin_luma <= 4).mean()),
        highlights_clipped=float((skin_luma >= 251).mean()),
    )


def colour_cast(tone: SkinTone, hues: tuple[float, float], chroma: tuple[float, float]) -> tuple[float, str]:
    """How far (CIELAB a*b* units) the skin's colour lies outside the neutral-skin region, and the cast's hue.

    The region is the sector of hue angles `hues` between chromas `chroma`, where skin photographed in
    neutral light falls. The cast is named by the direction from the region's nearest point to the skin.
    """
    point = np.array([tone.a, tone.b])
    nearest = _nearest_in_sector(point, np.radians(hues[0]), np.radians(hues[1]), chroma[0], chroma[1])
    offset = point - nearest
    distance = float(np.hypot(*offset))
    if distance < 1e-6:
        return 0.0, ""
    angle = float(np.degrees(np.arctan2(offset[1], offset[0])) % 360.0)
    return distance, _hue_name(angle)


def skin_texture_ratio(gray: np.ndarray, face: Face) -> float | None:
    """Fine texture on the face's skin over fine texture in the rest of the photo.

    Texture is the median of |luma - blurred luma| in each area. It scales with light, so a face much darker
    than the rest reads smoother: the caller judges texture only on faces that are not underexposed.

    A beauty filter smooths the skin and leaves the rest, so the ratio falls far below a clean photo's.
    """
    matrix = _template_transform(face)
    if matrix is None:
        return None
    pixels = gray.astype(np.float32)
    fine = np.abs(pixels - cv2.GaussianBlur(pixels, (0, 0), 1.0))
    template = cv2.warpAffine(fine, matrix, (TEMPLATE_SIZE, TEMPLATE_SIZE), flags=cv2.INTER_AREA,
                              borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
    skin = float(np.median(_pool(template, SKIN)))
    x, y, w, h = face.box
    outside = np.ones(gray.shape, dtype=bool)
    outside[max(0, int(y)) : max(0, int(y + h)), max(0, int(x)) : max(0, int(x + w))] = False
    if outside.mean() < 0.2:
        return None
    rest = float(np.median(fine[::2, ::2][outside[::2, ::2]]))  # every 4th pixel is plenty for a median
    return skin / max(rest, 0.1)


def _template_transform(face: Face) -> np.ndarray | None:
    source = np.array(face.landmarks, np.float32)
    if not np.isfinite(source).all() or face.eye_distance < 2.0:
        return None
    matrix, _ = cv2.estimateAffinePartial2D(source, TEMPLATE_LANDMARKS, method=cv2.LMEDS)
    return matrix


def _patch(pixels: np.ndarray, box: Box) -> np.ndarray:
    x0, y0, x1, y1 = box
    return pixels[y0:y1, x0:x1]


def _pool(pixels: np.ndarray, boxes: tuple[Box, ...]) -> np.ndarray:
    return np.concatenate([_patch(pixels, box).ravel() for box in boxes])


def _spread(pixels: np.ndarray) -> float:
    low, high = np.percentile(pixels, (5, 95))
    return float(high - low)


def _nearest_in_sector(point: np.ndarray, start: float, end: float, low: float, high: float) -> np.ndarray:
    """The point of the annular sector (angles start..end radians, radii low..high) nearest to `point`."""
    radius = float(np.hypot(*point))
    angle = float(np.arctan2(point[1], point[0])) % (2 * np.pi)
    if start <= angle <= end and low <= radius <= high:
        return point
    candidates = []
    if start <= angle <= end:  # inside the angles: move along the ray
        clipped = min(max(radius, low), high)
        candidates.append(np.array([np.cos(angle), np.sin(angle)]) * clipped)
    for edge in (start, end):  # project onto each bounding ray, clipped to the radii
        direction = np.array([np.cos(edge), np.sin(edge)])
        along = min(max(float(point @ direction), low), high)
        candidates.append(direction * along)
    return min(candidates, key=lambda candidate: float(np.hypot(*(point - candidate))))


def _hue_name(angle: float) -> str:
    def gap(centre: float) -> float:
        difference = abs(angle - centre) % 360.0
        return min(difference, 360.0 - difference)

    return min(HUES, key=lambda hue: gap(hue[1]))[0]
