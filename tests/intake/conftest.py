"""Real photos for the intake tests, and a fixture that turns pixels into upload bytes and a report."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from photogen.intake import calibration
from photogen.intake.decode import decode_image
from photogen.intake.faces import FaceDetector
from photogen.intake.preflight import preflight
from photogen.intake.report import PreflightReport


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """scikit-image's astronaut, coffee, chelsea, rocket and camera, and matplotlib's grace_hopper.jpg."""
    return calibration.sample_photos()


@pytest.fixture(scope="session")
def astronaut(photos: dict[str, np.ndarray]) -> np.ndarray:
    return photos["astronaut"]


@pytest.fixture(scope="session")
def detector() -> FaceDetector:
    return FaceDetector()


@pytest.fixture(scope="session")
def astronaut_face(astronaut: np.ndarray, detector: FaceDetector) -> tuple[float, float, float, float]:
    return detector.detect(astronaut)[0].box


@pytest.fixture(scope="session")
def report_for(detector: FaceDetector) -> Callable[..., PreflightReport]:
    """Preflight of RGB pixels uploaded as a PNG (or of upload bytes as they are)."""

    def run(pixels: np.ndarray | bytes, use: str = "general") -> PreflightReport:
        data = pixels if isinstance(pixels, bytes) else calibration.png_bytes(pixels)
        return preflight(decode_image(data), use, detector=detector)

    return run
