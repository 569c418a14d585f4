"""Traces that editing leaves in pixels: sharpening halos, colours pushed to the edge of the gamut, enlargement.

Pure functions of numpy arrays (uint8 gray HxW or RGB HxWx3). Each returns plain numbers; what counts as
good or bad lives in `thresholds.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

HALO_NEAR = (1, 2, 3)  # pixels beside an edge where sharpening overshoots
HALO_FAR = (5, 6, 7)  # pixels further out that stand for the two sides' true levels
HALO_MIN_GRADIENT = 120.0  # Sobel response of the edges looked at (strong, clean edges only)
HALO_MIN_STEP = 40.0  # luma step between the far levels
HALO_MAX_EDGES = 20_000  # edges sampled per direction, to bound the time on busy photos
# Quantisation noise of 8-bit pixels (variance 1/12) sets the floor of a power spectrum; detail is what rises
# well above it. Above the cut-off an enlarged photo's spectrum lies on that floor.
SPECTRUM_FLOOR_FACTOR = 10.0
SPECTRUM_ABOVE_SHARE = 0.15  # at most this share of the bins above the cut-off may rise over the floor
SPECTRUM_ROW_STEP = 8  # every 8th row (and column) is transformed
REPEAT_FACTOR = 0.05  # a column (row) step under this share of the strong steps repeats the last one


@dataclass(frozen=True)
class Enlargement:
    """How much a photo was enlarged from a smaller copy (1.0: not), and what gave it away."""

    factor: float
    evidence: str  # "" (none), "repeated pixels", "no fine detail"


def sharpening_halos(gray: np.ndarray) -> float:
    """Mean overshoot on both sides of strong edges, as a share of the edge's step (0 = none).

    Unsharp masking brightens the bright side and darkens the dark side next to every edge; a sharp but
    unprocessed edge rises straight from one level to the other. Only an overshoot on both sides counts, so
    a thin line beside an edge does not.
    """
    pixels = gray.astype(np.float32)
    height, width = pixels.shape
    margin = max(HALO_FAR) + 1
    if min(height, width) <= 2 * margin + 4:
        return 0.0
    gradient_x = cv2.Sobel(pixels, cv2.CV_32F, 1, 0, ksize=3)
    gradient_y = cv2.Sobel(pixels, cv2.CV_32F, 0, 1, ksize=3)
    rows, cols = np.nonzero(cv2.max(np.abs(gradient_x), np.abs(gradient_y)) >= HALO_MIN_GRADIENT)
    inside = (rows >= margin) & (rows < height - margin) & (cols >= margin) & (cols < width - margin)
    rows, cols = rows[inside], cols[inside]
    flat = pixels.ravel()
    signed_x, signed_y = gradient_x[rows, cols], gradient_y[rows, cols]
    overshoots = []
    for along, across, stride in ((signed_x, signed_y, 1), (signed_y, signed_x, width)):
        edges = np.flatnonzero(np.abs(along) > 2.0 * np.abs(across))  # edges running across this direction
        if edges.size > HALO_MAX_EDGES:  # evenly spaced, so the result does not depend on a random draw
            edges = edges[np.linspace(0, edges.size - 1, HALO_MAX_EDGES).astype(np.int64)]
        centre = rows[edges] * width + cols[edges]
        step_to_bright = np.sign(along[edges]).astype(np.int64) * stride
        bright_near = np.max([flat[centre + k * step_to_bright] for k in HALO_NEAR], axis=0)
        dark_near = np.min([flat[centre - k * step_to_bright] for k in HALO_NEAR], axis=0)
        bright_far = np.mean([flat[centre + k * step_to_bright] for k in HALO_FAR], axis=0)
        dark_far = np.mean([flat[centre - k * step_to_bright] for k in HALO_FAR], axis=0)
        step = bright_far - dark_far
        usable = step > HALO_MIN_STEP
        both = np.minimum(np.maximum(bright_near - bright_far, 0.0), np.maximum(dark_far - dark_near, 0.0))
        overshoots.append(both[usable] / step[usable])
    values = np.concatenate(overshoots)
    return float(values.mean()) if values.size else 0.0


def gamut_edge_share(rgb: np.ndarray) -> float:
    """Share of colourful pixels with a channel pushed to zero (after a 1 px blur, so noise does not count).

    Raising saturation drives the weakest channel of every strong colour to 0; photographs straight from a
    camera keep it above. Clean photos: at most 0.002.
    """
    red, green, blue = cv2.split(cv2.GaussianBlur(rgb, (5, 5), 1.0))
    low = cv2.min(cv2.min(red, green), blue)
    high = cv2.max(cv2.max(red, green), blue)
    pushed = cv2.bitwise_and(cv2.compare(low, 3, cv2.CMP_LE), cv2.compare(high, 96, cv2.CMP_GE))
    return cv2.countNonZero(pushed) / pushed.size


def enlargement(gray: np.ndarray) -> Enlargement:
    """How many times the photo was enlarged: from repeated pixels, else from where its detail ends.

    Nearest-neighbour enlargement repeats whole rows and columns. Smooth enlargement (bilinear, bicubic,
    Lanczos) leaves no detail above the small copy's Nyquist frequency: the power spectrum of rows and columns
    falls to the floor that 8-bit quantisation sets, at half the small copy's sampling rate. Blur does the same
    (a blurred photo holds the detail of a smaller one), so the check's words say both.
    """
    if min(gray.shape) < 64:
        return Enlargement(1.0, "")
    repeated = _repeated_factor(gray)
    if repeated >= 1.25:
        return Enlargement(repeated, "repeated pixels")
    cutoffs = [_detail_cutoff(gray, axis) for axis in (1, 0)]
    factor = 0.5 / max(cutoffs)
    if factor >= 1.25:
        return Enlargement(factor, "no fine detail")
    return Enlargement(1.0, "")


def _repeated_factor(gray: np.ndarray) -> float:
    """Size over distinct columns (rows): about the enlargement when pixels were repeated, else 1."""
    pixels = gray.astype(np.int16)
    factors = []
    for axis in (1, 0):
        steps = np.abs(np.diff(pixels, axis=axis)).mean(axis=1 - axis)
        strong = float(np.percentile(steps, 90))
        if strong < 1.0:  # a flat picture repeats everything and says nothing
            return 1.0
        repeats = float((steps <= REPEAT_FACTOR * strong).mean())
        factors.append(1.0 / max(1.0 - repeats, 1e-3))
    return min(factors)


def _detail_cutoff(gray: np.ndarray, axis: int) -> float:
    """The frequency (cycles per pixel, 0.5 = Nyquist) above which the spectrum lies on the quantisation floor."""
    pixels = gray.astype(np.float32)
    lines = pixels[::SPECTRUM_ROW_STEP] if axis == 1 else pixels[:, ::SPECTRUM_ROW_STEP].T
    lines = lines - lines.mean(axis=1, keepdims=True)
    window = np.hanning(lines.shape[1]).astype(np.float32)
    power = (np.abs(np.fft.rfft(lines * window, axis=1)) ** 2).mean(axis=0)
    floor = float((window**2).sum()) / 12.0  # what 8-bit rounding noise alone puts in every bin
    smooth = np.convolve(power, np.ones(5) / 5.0, mode="same")
    above = smooth > SPECTRUM_FLOOR_FACTOR * floor
    # share of the bins from each frequency up to Nyquist that rise above the floor
    tail_share = np.cumsum(above[::-1])[::-1] / np.arange(above.size, 0, -1)
    frequencies = np.fft.rfftfreq(lines.shape[1])
    on_floor = np.flatnonzero((tail_share <= SPECTRUM_ABOVE_SHARE) & (frequencies > 0.02))
    return float(frequencies[on_floor[0]]) if on_floor.size else 0.5
