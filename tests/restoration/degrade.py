"""Old-photo damage drawn on clean photos, with the truth of where it is: random scratch strokes, dust specks,
fading and a sepia cast."""

from __future__ import annotations

import numpy as np


def scratches(rgb: np.ndarray, rng: np.random.Generator, count: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Thin bright or dark curved strokes (1-2 px) across the photo; returns the photo and the drawn mask."""
    import cv2

    out, truth = rgb.copy(), np.zeros(rgb.shape[:2], np.uint8)
    height, width = rgb.shape[:2]
    for _ in range(count):
        start = rng.uniform([0, 0], [width, height])
        angle = rng.uniform(0, np.pi)
        length = rng.uniform(0.3, 0.8) * max(width, height)
        bend = rng.uniform(-0.2, 0.2)
        points = []
        for t in np.linspace(0, 1, 24):
            a = angle + bend * t * 3
            points.append(start + t * length * np.array([np.cos(a), np.sin(a)]))
        points = np.round(np.array(points)).astype(np.int32).reshape(-1, 1, 2)
        thickness = int(rng.integers(1, 3))
        level = 245 if rng.random() < 0.6 else 15
        cv2.polylines(out, [points], False, (level, level, level), thickness, lineType=cv2.LINE_8)
        cv2.polylines(truth, [points], False, 1, thickness, lineType=cv2.LINE_8)
    return out, truth.astype(bool)


def dust(rgb: np.ndarray, rng: np.random.Generator, count: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Round specks of 1-2 px radius, mostly white (dust on a print), some black."""
    import cv2

    out, truth = rgb.copy(), np.zeros(rgb.shape[:2], np.uint8)
    height, width = rgb.shape[:2]
    for _ in range(count):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        radius = int(rng.integers(1, 3))
        level = 250 if rng.random() < 0.7 else 5
        cv2.circle(out, centre, radius, (level, level, level), -1)
        cv2.circle(truth, centre, radius, 1, -1)
    return out, truth.astype(bool)


def fade(rgb: np.ndarray, contrast: float = 0.55, lift: float = 60.0) -> np.ndarray:
    """Faded contrast with lifted blacks, as an old print."""
    return np.clip(rgb.astype(np.float32) * contrast + lift, 0, 255).astype(np.uint8)


def sepia(rgb: np.ndarray) -> np.ndarray:
    """A sepia cast: blue and green pulled down against red."""
    return np.clip(rgb.astype(np.float32) * np.array([1.0, 0.86, 0.66]) + np.array([18, 8, 0]), 0, 255).astype(np.uint8)


def recall_precision(found: np.ndarray, truth: np.ndarray, tolerance: int = 2) -> tuple[float, float]:
    """Recall: the drawn damage pixels the map covers; precision: the map's pixels within `tolerance` px of
    drawn damage (the map is grown to cover a scratch's soft edge, so its border counts as a hit)."""
    import cv2

    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tolerance + 1, 2 * tolerance + 1))
    near_truth = cv2.dilate(truth.astype(np.uint8), kernel).astype(bool)
    recall = float((found & truth).sum() / max(1, truth.sum()))
    precision = float((found & near_truth).sum() / max(1, found.sum()))
    return recall, precision
