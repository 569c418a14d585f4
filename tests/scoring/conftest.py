"""Real photos and one identity scorer for the scoring tests."""

from __future__ import annotations

import numpy as np
import pytest

from photogen.intake import calibration
from photogen.scoring.identity import IdentityScorer


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """scikit-image's astronaut, coffee, chelsea, rocket and camera, and matplotlib's grace_hopper.jpg."""
    return calibration.sample_photos()


@pytest.fixture(scope="session")
def scorer() -> IdentityScorer:
    return IdentityScorer()
