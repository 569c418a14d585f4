"""Pixel measurements behind the preflight checks. Pure functions of numpy arrays (uint8 gray, HxW).

Each returns a plain number; what counts as good or bad lives in `thresholds.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FACE_SAMPLE_HEIGHT = 128  # face regions are resampled to this height before measuring sharpness

# Luma to linear light (sRGB treated as a 2.2 power curve), for comparing brightness in stops.
_LINEAR = (np.arange(256, dtype=np.float64) / 255.0) ** 2.2
_DARK_FLOOR = _LINEAR[16]  # differences below this level are not counted as stops


@dataclass(frozen=True)
class Exposure:
    mean: float  # mean luma, 0-255
    shadows_clipped: float  # share of pixels at luma <= 4
    highlights_clipped: float  # share of pixels at luma >= 251
    low: float  # 1st percentile of luma
    high: float  # 99th percentile of luma

    @property
    def contrast(self) -> float:
        return self.high - self.low


def luma(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of an RGB uint8 array."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def laplacian_variance(gray: np.ndarray) -> float:
    """Variance of the 3x3 Laplacian: high for crisp edges, low for blur."""
    return float(cv2.Laplacian(gray, cv2.CV_32F).var())


def region_sharpness(gray: np.ndarray, box: tuple[float, float, float, float]) -> float | None:
    """Laplacian variance of a box (x, y, w, h) resampled to FACE_SAMPLE_HEIGHT, so faces of any size compare."""
    region = crop_region(gray, box)
    if region is None or min(region.shape) < 8:
        return None
    factor = FACE_SAMPLE_HEIGHT / region.shape[0]
    width = max(8, round(region.shape[1] * factor))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    return laplacian_variance(cv2.resize(region, (width, FACE_SAMPLE_HEIGHT), interpolation=interpolation))


def noise_sigma(gray: np.ndarray) -> float:
    """Gaussian noise estimate from the finest diagonal wavelet band (Donoho's median rule), in 0-255 units."""
    import pywt

    _, (_, _, diagonal) = pywt.dwt2(gray.astype(np.float32), "db2")
    coefficients = np.abs(diagonal[diagonal != 0])
    if coefficients.size == 0:
        return 0.0
    return float(np.median(coefficients) / 0.6744897501960817)


def blockiness(gray: np.ndarray, period: int = 8) -> float:
    """How much stronger steps are on one column/row phase of `period` than on the others (1.0 = none).

    JPEG compresses 8x8 blocks independently; at low quality their edges show as a grid. The phase is
    found rather than assumed, so re-cropped or re-saved images are measured too.
    """
    if min(gray.shape) < 4 * period:
        return 1.0
    pixels = gray.astype(np.float32)
    ratios = []
    for steps in (np.abs(np.diff(pixels, axis=1)).mean(axis=0), np.abs(np.diff(pixels, axis=0)).mean(axis=1)):
        usable = steps.size - steps.size % period
        by_phase = steps[:usable].reshape(-1, period).mean(axis=0)
        strongest = int(by_phase.argmax())
        others = np.delete(by_phase, strongest)
        ratios.append(float(by_phase[strongest] / max(float(np.median(others)), 0.5)))
    return float(np.mean(ratios))


def exposure(gray: np.ndarray) -> Exposure:
    histogram = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    total = histogram.sum()
    cumulative = np.cumsum(histogram) / total
    return Exposure(
        mean=float((histogram * np.arange(256)).sum() / total),
        shadows_clipped=float(histogram[:5].sum() / total),
        highlights_clipped=float(histogram[251:].sum() / total),
        low=float(np.searchsorted(cumulative, 0.01)),
        high=float(np.searchsorted(cumulative, 0.99)),
    )


def backlight_stops(gray: np.ndarray, face: tuple[float, float, float, float]) -> float | None:
    """How many stops (in linear light) the background is brighter than the face's centre.

    The background is the frame outside the person: the face widened to the shoulders and all below it.
    """
    x, y, w, h = face
    inner = crop_region(gray, (x + 0.2 * w, y + 0.2 * h, 0.6 * w, 0.6 * h))
    if inner is None:
        return None
    mask = np.ones(gray.shape, dtype=bool)
    left, right = int(max(0, x - 0.75 * w)), int(min(gray.shape[1], x + 1.75 * w))
    mask[int(max(0, y - 0.3 * h)) :, left:right] = False
    if mask.mean() < 0.1:
        return None
    linear = _LINEAR[gray]
    background = float(linear[mask].mean())
    subject = float(_LINEAR[inner].mean())
    return float(np.log2((background + _DARK_FLOOR) / (subject + _DARK_FLOOR)))


def flat_border_share(gray: np.ndarray, tolerance: int = 3, coverage: float = 0.9) -> float:
    """The largest share of the frame taken by uniform bands (rows or columns) at its edges.

    A line counts as uniform when `coverage` of its pixels lie within `tolerance` of its median: the bars
    of an app screenshot or letterbox bands, allowing a few icons or text.
    """
    height, width = gray.shape
    if min(height, width) < 16:
        return 0.0
    pixels = gray.astype(np.int16)
    row_flat = (np.abs(pixels - np.median(pixels, axis=1, keepdims=True)) <= tolerance).mean(
        axis=1
    ) >= coverage
    col_flat = (np.abs(pixels - np.median(pixels, axis=0, keepdims=True)) <= tolerance).mean(
        axis=0
    ) >= coverage
    top, bottom = _run_length(row_flat), _run_length(row_flat[::-1])
    left, right = _run_length(col_flat), _run_length(col_flat[::-1])
    if top == height:  # a blank image is not a screenshot
        return 0.0
    return max((top + bottom) / height, (left + right) / width)


def crop_region(gray: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray | None:
    x, y, w, h = box
    x0, y0 = int(max(0, round(x))), int(max(0, round(y)))
    x1, y1 = int(min(gray.shape[1], round(x + w))), int(min(gray.shape[0], round(y + h)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return gray[y0:y1, x0:x1]


def _run_length(flags: np.ndarray) -> int:
    """How many leading entries are True."""
    misses = np.flatnonzero(~flags)
    return int(misses[0]) if misses.size else int(flags.size)
