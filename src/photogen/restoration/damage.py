"""The damage map: scratches, cracks, dust, tears and stains found as a mask on the scan at full resolution.

How each kind is found (all on the scan's own pixels, never a shrunk copy):

- scratches and cracks: thin lines, brighter or darker than what is around them. The luma minus its median
  over a window a few times wider than a scratch leaves thin structures and removes shading and edges (a
  median keeps a step edge where it is). The residual is thresholded against its own robust spread, and each
  connected piece is kept when it is line-like: long for its area (line detection by shape: a piece's length
  over its mean width).
- dust: small specks in the same residual, compact and much brighter or darker than the median around them.
- tears and missing paper: large, flat, near-white (or near-black) patches with almost no texture.
- stains: broad blotches whose colour departs from the photo's own colour around them (the chroma minus its
  median over a wide window), kept when large and smooth-edged.

Thresholds are in units of the residual's robust spread (1.4826 x its median absolute deviation), so a faded,
low-contrast scan is judged on its own contrast. Kinds and the measured recall/precision are in
docs/restoration.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from photogen.domain.errors import InvalidRequest

LINE_SIGMAS = 7.0  # residual above this many robust spreads: a candidate scratch or speck pixel
SPECK_SIGMAS = 10.0  # a dust speck's peak must stand out this much
MIN_LINE_PX = 15  # the line detector's segment: a scratch runs straight (to a pixel) for at least this long
LINE_ANGLES = 16  # orientations of the segment, 11.25 degrees apart
MAX_FITTING_ANGLES = 5  # a segment fits a line in a few orientations; one that fits in more is in a blob
TEXTURE_WINDOW = 31  # px over which the local texture level is measured
MIN_SPREAD = 2.0  # levels: the residual's spread is never taken below this (flat or posterised scans)
MAX_SPECK_AREA_SHARE = 1.5e-4  # a speck covers at most this share of the scan (about 40 px at 512x512)
MIN_SPECK_AREA = 2
TEAR_MIN_AREA_SHARE = 0.002
TEAR_MAX_TEXTURE = 1.0  # local standard deviation (levels) inside a tear: bare paper
TEAR_LEVEL = 246  # luma of bare paper showing through a tear or a missing corner
STAIN_SIGMAS = 8.0
STAIN_MIN_DISTANCE = 45.0  # Lab a/b units a stain's colour departs from its surroundings
STAIN_MIN_AREA_SHARE = 0.001
MONOCHROME_RESIDUAL = 0.06  # colour_residual at or below which a scan is one-hued (black-and-white, toned)
GROW_PX = 1  # the mask is grown by this much so a repair covers a scratch's soft edges


@dataclass
class DamageMap:
    """The mask (H x W, bool, the scan's size) and what it covers, by kind."""

    mask: np.ndarray
    kinds: dict[str, np.ndarray] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def area_share(self) -> float:
        return float(self.mask.mean()) if self.mask.size else 0.0

    def report(self) -> dict[str, Any]:
        total = self.mask.size or 1
        return {
            "area_share": round(self.area_share, 5),
            "pixels": int(self.mask.sum()),
            "by_kind": {name: round(float(kind.sum()) / total, 5) for name, kind in self.kinds.items()},
            "size": [int(self.mask.shape[1]), int(self.mask.shape[0])],
            **({"params": self.params} if self.params else {}),
        }


def _odd(value: float, least: int = 3) -> int:
    size = max(least, int(round(value)))
    return size if size % 2 else size + 1


def robust_spread(values: np.ndarray) -> float:
    median = float(np.median(values))
    return max(1e-3, 1.4826 * float(np.median(np.abs(values - median))))


def find_damage(rgb: np.ndarray, *, scratch_width: int | None = None) -> DamageMap:
    """The damage map of RGB uint8 pixels at their own size. `scratch_width` is the widest scratch looked for
    (default: about 1/170 of the short side, at least 3 px)."""
    import cv2

    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InvalidRequest(f"the scan must be RGB uint8 pixels, got {rgb.dtype} {rgb.shape}")
    height, width = rgb.shape[:2]
    if min(height, width) < 32:
        raise InvalidRequest(f"a {width}x{height} scan is too small to look for damage",
                             hint="scan the photo at a higher resolution (at least 32 px on each side)")
    short = min(height, width)
    scratch_width = scratch_width or max(3, round(short / 170))
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    # 1. thin structures: the luma minus its median over a window wider than any scratch
    window = _odd(scratch_width * 3 + 2, 5)
    background = cv2.medianBlur(luma, window)
    residual = luma.astype(np.float32) - background.astype(np.float32)
    spread = max(MIN_SPREAD, robust_spread(residual[:: max(1, height // 512), :: max(1, width // 512)]))
    # texture raises the bar where it is: the residual's local mean size (each pixel capped, so a scratch does
    # not raise its own bar) over a wide window, in spreads
    capped = np.minimum(np.abs(residual), 3.0 * spread)
    texture = cv2.blur(capped, (TEXTURE_WINDOW, TEXTURE_WINDOW)) * 1.2533  # mean |x| -> sigma for a normal
    local = np.maximum(spread, texture)
    scratches = np.zeros(luma.shape, bool)
    dust = np.zeros(luma.shape, bool)
    length = _odd(max(MIN_LINE_PX, 4 * scratch_width + 3))
    for sign in (1.0, -1.0):  # bright and dark damage apart, so a white scratch never merges with dark texture
        signed = residual * sign
        candidate = signed > LINE_SIGMAS * local
        scratches |= _lines(candidate, length, scratch_width)
        dust |= _specks(candidate, signed / local, height * width)
    dust &= ~scratches
    # 2. tears: large flat patches of bare paper (near white or near black) with no texture
    local_sd = _local_std(luma, _odd(short / 100, 5))
    saturation = rgb.max(axis=2).astype(np.int16) - rgb.min(axis=2)
    bare = (luma >= TEAR_LEVEL) & (local_sd <= TEAR_MAX_TEXTURE) & (saturation <= 12)
    tears = _large_parts(bare, TEAR_MIN_AREA_SHARE * height * width)
    # 3. stains: blotches of colour on a monochrome (black-and-white or toned) print; on a colour photo a
    # coloured object cannot be told from a stain, so none is looked for there
    monochrome = is_monochrome(rgb)
    stains = _stains(rgb, short) if monochrome else np.zeros(luma.shape, bool)
    mask = scratches | dust | tears | stains
    if GROW_PX:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * GROW_PX + 1, 2 * GROW_PX + 1))
        mask = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
    return DamageMap(mask=mask, kinds={"scratches": scratches, "dust": dust, "tears": tears, "stains": stains},
                     params={"scratch_width": scratch_width, "window": window, "spread": round(spread, 3),
                             "monochrome": monochrome})


def colour_residual(rgb: np.ndarray) -> float:
    """How far the scan is from one hue: each channel fitted as a straight line of the luma, the fit's RMS
    error over the luma's spread (a black-and-white or sepia-toned print: near 0; a colour photo: 0.2 and up)."""
    step = max(1, min(rgb.shape[:2]) // 256)
    pixels = rgb[::step, ::step].reshape(-1, 3).astype(np.float64)
    luma = pixels @ np.array([0.299, 0.587, 0.114])
    spread = float(luma.std())
    if spread < 1.0:
        return 0.0
    design = np.stack([luma, np.ones_like(luma)], axis=1)
    coefficients, *_ = np.linalg.lstsq(design, pixels, rcond=None)
    error = pixels - design @ coefficients
    return float(np.sqrt((error ** 2).mean()) / spread)


def is_monochrome(rgb: np.ndarray) -> bool:
    return colour_residual(rgb) <= MONOCHROME_RESIDUAL


def _line_kernels(length: int) -> list[np.ndarray]:
    import cv2

    kernels = []
    centre = length // 2
    for index in range(LINE_ANGLES):
        angle = np.pi * index / LINE_ANGLES
        dx, dy = np.cos(angle) * centre, np.sin(angle) * centre
        kernel = np.zeros((length, length), np.uint8)
        cv2.line(kernel, (round(centre - dx), round(centre - dy)), (round(centre + dx), round(centre + dy)), 1, 1)
        kernels.append(kernel)
    return kernels


def _lines(candidate: np.ndarray, length: int, scratch_width: int) -> np.ndarray:
    """Candidate pixels on a line: where a straight segment of `length` px fits inside the (slightly grown)
    candidates in a few orientations only (morphological opening with line elements), in long thin pieces."""
    import cv2

    grown = cv2.dilate(candidate.astype(np.uint8), np.ones((3, 3), np.uint8))
    fits = np.zeros(candidate.shape, np.uint8)
    for kernel in _line_kernels(length):
        fits += cv2.morphologyEx(grown, cv2.MORPH_OPEN, kernel)
    on_line = (fits > 0) & (fits <= MAX_FITTING_ANGLES) & candidate
    count, labels, stats, _ = cv2.connectedComponentsWithStats(on_line.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    for index in range(1, count):
        _x, _y, w, h, area = stats[index]
        extent = float(np.hypot(w, h))
        keep[index] = extent >= length and area / extent <= 2.0 * scratch_width
    return keep[labels]


def _specks(candidate: np.ndarray, signed: np.ndarray, pixels: int) -> np.ndarray:
    """Small compact pieces that stand out strongly and alone (no other candidates right around them)."""
    import cv2

    count, labels, stats, _ = cv2.connectedComponentsWithStats(candidate.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros(candidate.shape, bool)
    peaks = np.zeros(count, np.float32)
    np.maximum.at(peaks, labels.ravel(), signed.ravel())
    density = cv2.blur(candidate.astype(np.float32), (15, 15))
    max_speck = max(MIN_SPECK_AREA + 1, MAX_SPECK_AREA_SHARE * pixels)
    keep = np.zeros(count, bool)
    for index in range(1, count):
        x, y, w, h, area = stats[index]
        if not (MIN_SPECK_AREA <= area <= max_speck and peaks[index] >= SPECK_SIGMAS
                and max(w, h) <= 2 * min(w, h) + 1):
            continue
        cx, cy = x + w // 2, y + h // 2
        crowd = density[cy, cx] * 225 - area  # other candidates within 7 px of its centre
        keep[index] = crowd <= 0.5 * area + 2
    return keep[labels]


def _local_std(luma: np.ndarray, size: int) -> np.ndarray:
    import cv2

    values = luma.astype(np.float32)
    mean = cv2.blur(values, (size, size))
    square = cv2.blur(values * values, (size, size))
    return np.sqrt(np.maximum(square - mean * mean, 0.0))


def _large_parts(mask: np.ndarray, min_area: float) -> np.ndarray:
    import cv2

    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    return keep[labels]


def _stains(rgb: np.ndarray, short: int) -> np.ndarray:
    """Chroma (Lab a, b) departing from its median over a wide window, in large smooth pieces."""
    import cv2

    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    step = max(1, short // 256)  # the wide median runs on a subsample; its result is smooth by construction
    small = lab[::step, ::step]
    window = _odd(min(small.shape[:2]) / 6, 5)
    window = min(window, 255 if window % 2 else 254)
    distance = np.zeros(small.shape[:2], np.float32)
    for channel in (1, 2):
        plane = small[..., channel]
        background = cv2.medianBlur(plane, window)
        distance += (plane.astype(np.float32) - background.astype(np.float32)) ** 2
    distance = np.sqrt(distance)
    spread = robust_spread(distance)
    blotch = distance > max(STAIN_SIGMAS * spread, STAIN_MIN_DISTANCE)
    blotch = cv2.morphologyEx(blotch.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
    blotch = _large_parts(blotch, STAIN_MIN_AREA_SHARE * small.shape[0] * small.shape[1])
    if step > 1:
        blotch = cv2.resize(blotch.astype(np.uint8), (rgb.shape[1], rgb.shape[0]),
                            interpolation=cv2.INTER_NEAREST).astype(bool)
    return blotch


def mask_from_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A user's mask (any mode; white or opaque = damaged) as a bool array of `size` (width, height).

    A mask of another size is refused: a mask drawn on a preview must be brought to the scan's size first."""
    if image.ndim == 3:
        if image.shape[2] == 4 and image[..., 3].min() < 255:  # painted strokes on a transparent layer
            plane = image[..., 3]
        else:
            plane = image[..., :3].max(axis=2)
    else:
        plane = image
    if (plane.shape[1], plane.shape[0]) != size:
        raise InvalidRequest(
            f"the mask is {plane.shape[1]}x{plane.shape[0]} but the scan is {size[0]}x{size[1]}",
            hint="send the mask at the scan's own size (white where it is damaged, black elsewhere)",
            code="mask_size_mismatch",
        )
    return plane >= 128


def open_mask(data: bytes):
    """A mask file as an image: upright, its alpha kept when it has one (strokes painted on a transparent
    layer), else grey levels. Decode it with the upload limits first (photogen.intake.decode)."""
    import io

    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened)
        has_alpha = "A" in image.mode or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "L")


def mask_preview(rgb: np.ndarray, mask: np.ndarray, long_side: int = 1024) -> np.ndarray:
    """The scan with the damage tinted red, at most `long_side` px on its long side (a preview, not the mask)."""
    import cv2

    overlay = rgb.copy()
    overlay[mask] = (0.35 * overlay[mask] + 0.65 * np.array([255, 0, 0])).astype(np.uint8)
    height, width = rgb.shape[:2]
    factor = min(1.0, long_side / max(height, width))
    if factor < 1.0:
        overlay = cv2.resize(overlay, (max(1, round(width * factor)), max(1, round(height * factor))),
                             interpolation=cv2.INTER_AREA)
    return overlay
