"""Faded tones and colour: measured corrections, not a look.

1. Black and white points, per channel: the 0.5th and 99.5th percentiles of each channel (damage left out)
   are taken to 0 and 255. A faded print's lifted blacks and dull whites are stretched back, and a cast that
   tints the whole print (sepia, a yellowed or magenta-shifted colour print) goes with it, since each channel
   is stretched on its own.
2. Per-channel curves, on a black-and-white or toned print: a gamma per channel that brings each channel's
   median to the median of the three (neutral mid-tones). A colour scene's mid-tones need not be grey, so on
   a colour scan the curves stay straight and only the black and white points move.

The record holds every measured value, so the correction can be read and repeated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

LOW_PERCENTILE, HIGH_PERCENTILE = 0.5, 99.5
MIN_RANGE = 32.0  # levels: a channel spanning less than this is stretched only this far (no noise blown up)
MAX_GAMMA_SHIFT = 0.35  # per-channel gamma stays within 1 +- this


@dataclass(frozen=True)
class ToneCorrection:
    black_point: tuple[float, float, float]
    white_point: tuple[float, float, float]
    gamma: tuple[float, float, float]

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """The corrected pixels (uint8, same size), through one lookup table per channel."""
        out = np.empty_like(rgb)
        for channel in range(3):
            out[..., channel] = self.table(channel)[rgb[..., channel]]
        return out

    def table(self, channel: int) -> np.ndarray:
        levels = np.arange(256, dtype=np.float64)
        low, high = self.black_point[channel], self.white_point[channel]
        stretched = np.clip((levels - low) / max(high - low, 1e-6), 0.0, 1.0)
        return np.clip(np.rint(255.0 * stretched ** self.gamma[channel]), 0, 255).astype(np.uint8)

    def as_dict(self) -> dict[str, Any]:
        return {"black_point": [round(v, 2) for v in self.black_point],
                "white_point": [round(v, 2) for v in self.white_point],
                "gamma": [round(v, 4) for v in self.gamma],
                "percentiles": [LOW_PERCENTILE, HIGH_PERCENTILE]}


def measure_tones(rgb: np.ndarray, exclude: np.ndarray | None = None, *, balance: bool = True) -> ToneCorrection:
    """The correction for a scan, measured on its pixels outside `exclude` (the damage map). `balance` sets the
    per-channel curves that make the mid-tones neutral: right for a black-and-white or toned print (its truth
    is grey), wrong for a colour scene whose mid-tones are not grey, so the caller sets it for monochrome
    scans only."""
    step = max(1, int(np.sqrt(rgb.shape[0] * rgb.shape[1] / 1_000_000)))  # about a million pixels are plenty
    sample = rgb[::step, ::step].reshape(-1, 3)
    if exclude is not None and exclude.any():
        keep = ~exclude[::step, ::step].reshape(-1)
        if keep.sum() >= 1000:
            sample = sample[keep]
    blacks, whites = [], []
    for channel in range(3):
        low, high = np.percentile(sample[:, channel], [LOW_PERCENTILE, HIGH_PERCENTILE])
        if high - low < MIN_RANGE:
            middle = (low + high) / 2
            low, high = middle - MIN_RANGE / 2, middle + MIN_RANGE / 2
        blacks.append(float(low))
        whites.append(float(high))
    stretched = np.stack([np.clip((sample[:, c] - blacks[c]) / (whites[c] - blacks[c]), 0, 1) for c in range(3)], 1)
    medians = np.clip(np.median(stretched, axis=0), 0.02, 0.98)
    target = float(np.clip(np.median(medians), 0.02, 0.98))
    gammas = []
    for channel in range(3 if balance else 0):
        gamma = float(np.log(target) / np.log(medians[channel]))
        gammas.append(float(np.clip(gamma, 1 - MAX_GAMMA_SHIFT, 1 + MAX_GAMMA_SHIFT)))
    return ToneCorrection(tuple(blacks), tuple(whites), tuple(gammas) if balance else (1.0, 1.0, 1.0))  # type: ignore[arg-type]
