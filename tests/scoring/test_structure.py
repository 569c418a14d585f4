from __future__ import annotations

import numpy as np
import pytest

from photogen.domain.errors import InvalidRequest
from photogen.intake import calibration
from photogen.scoring.structure import ssim, structure_similarity, working_pair


def test_identical_images_score_one(photos):
    assert structure_similarity(photos["astronaut"], photos["astronaut"].copy()) == pytest.approx(
        1.0, abs=1e-9
    )


def test_edits_lower_the_score_in_order(photos):
    astronaut = photos["astronaut"]
    jpeg = structure_similarity(astronaut, calibration.jpeg(astronaut, 30))
    light_blur = structure_similarity(astronaut, calibration.blur(astronaut, 1))
    heavy_blur = structure_similarity(astronaut, calibration.blur(astronaut, 4))
    other_photo = structure_similarity(astronaut, np.ascontiguousarray(photos["coffee"][:400, :400]))
    assert 1.0 > jpeg > 0.85
    assert 1.0 > light_blur > heavy_blur
    assert heavy_blur < 0.8
    assert other_photo < 0.3
    assert other_photo < heavy_blur - 0.3


def test_size_does_not_matter_only_content(photos):
    """Outputs are compared at one working size, so a same-content output of another size scores high."""
    astronaut = photos["astronaut"]
    assert structure_similarity(astronaut, calibration.downscale(astronaut, 384)) > 0.95


def test_matches_scikit_image(photos):
    from skimage.metrics import structural_similarity

    first, second = working_pair(photos["astronaut"], calibration.blur(photos["astronaut"], 2), 256)
    expected = structural_similarity(
        first, second, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
    )
    assert ssim(first, second) == pytest.approx(expected, abs=1e-9)


def test_different_shapes_are_refused(photos):
    with pytest.raises(InvalidRequest, match="different shapes"):
        structure_similarity(photos["astronaut"], photos["grace_hopper"][:300])
    with pytest.raises(InvalidRequest):
        structure_similarity(photos["astronaut"], photos["camera"][..., 0])
