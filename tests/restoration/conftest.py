"""Real photos, damaged here the way old prints are (tests/restoration/degrade.py), with the truth of where."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from photogen.intake import calibration
from tests.restoration import degrade


@dataclass(frozen=True)
class Damaged:
    clean: np.ndarray
    damaged: np.ndarray  # scratches and dust drawn on the clean photo
    truth: np.ndarray  # where they were drawn
    visible: np.ndarray  # the drawn pixels that differ from the clean photo by more than 24 levels

    def faded(self) -> np.ndarray:
        return degrade.sepia(degrade.fade(self.damaged))


def damage(clean: np.ndarray, seed: int = 7) -> Damaged:
    rng = np.random.default_rng(seed)
    drawn, lines = degrade.scratches(clean, rng)
    drawn, specks = degrade.dust(drawn, rng)
    truth = lines | specks
    visible = truth & (np.abs(drawn.astype(np.int16) - clean).max(axis=2) > 24)
    return Damaged(clean, drawn, truth, visible)


@pytest.fixture(scope="session")
def sample_photos() -> dict[str, np.ndarray]:
    return calibration.sample_photos()


@pytest.fixture(scope="session")
def damaged_photos(sample_photos) -> dict[str, Damaged]:
    return {name: damage(sample_photos[name][..., :3]) for name in ("astronaut", "camera", "grace_hopper")}
