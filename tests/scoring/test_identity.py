from __future__ import annotations

import numpy as np
import pytest

from photogen.domain.errors import InvalidRequest
from photogen.intake import calibration
from photogen.scoring.identity import IDENTITY_DRIFT_THRESHOLD, IdentityScorer


def crop_around_face(rgb: np.ndarray) -> np.ndarray:
    """A head-and-shoulders crop of the astronaut, as a crop preset would cut it."""
    return np.ascontiguousarray(rgb[20:400, 80:420])


@pytest.mark.parametrize(
    "label, degrade",
    [
        ("blur sigma 2", lambda rgb: calibration.blur(rgb, 2)),
        ("crop", crop_around_face),
        ("jpeg q10", lambda rgb: calibration.jpeg(rgb, 10)),
        ("half size", lambda rgb: calibration.downscale(rgb, 256)),
    ],
)
def test_the_same_person_degraded_stays_above_the_threshold(photos, scorer, label, degrade):
    score = scorer.score(photos["astronaut"], degrade(photos["astronaut"]))
    assert score.comparable
    assert score.similarity > 0.75, label  # measured 0.83 (blur) .. 0.93
    assert not score.drift
    assert score.note == "same person"


def test_identical_pixels_score_one(photos, scorer):
    score = scorer.score(photos["astronaut"], photos["astronaut"].copy())
    assert score.similarity == pytest.approx(1.0, abs=1e-5)


def test_a_different_person_is_below_the_threshold_and_flagged(photos, scorer):
    score = scorer.score(photos["astronaut"], photos["grace_hopper"])
    assert score.similarity < IDENTITY_DRIFT_THRESHOLD
    assert score.similarity == pytest.approx(0.18, abs=0.05)  # measured 0.181
    assert score.drift
    assert score.as_dict()["note"] == "identity drift"


def test_a_face_smeared_away_drifts(photos, scorer):
    # Blur sigma 4 leaves the astronaut's 90 px face unrecognisable (0.33); sigma 3 still passes (0.64).
    assert scorer.score(photos["astronaut"], calibration.blur(photos["astronaut"], 4)).drift
    assert not scorer.score(photos["astronaut"], calibration.blur(photos["astronaut"], 3)).drift


def test_no_face_on_either_side_is_not_comparable(photos, scorer):
    no_face_output = scorer.score(photos["astronaut"], photos["coffee"])
    assert no_face_output.similarity is None and not no_face_output.drift
    assert no_face_output.source_face is not None and no_face_output.output_face is None
    assert no_face_output.note == "no face in the output"

    no_face_source = scorer.score(photos["coffee"], photos["astronaut"])
    assert no_face_source.similarity is None and not no_face_source.drift
    assert no_face_source.note == "no face in the source"
    assert scorer.embed(photos["coffee"]) is None


def test_embeddings_are_unit_vectors_of_the_largest_face(photos, scorer):
    embedding = scorer.embed(photos["astronaut"])
    assert embedding is not None
    assert embedding.vector.shape == (128,)
    assert float(np.linalg.norm(embedding.vector)) == pytest.approx(1.0, abs=1e-5)
    x, y, w, _h = embedding.face.box
    assert 150 < x < 210 and 40 < y < 90 and 70 < w < 110  # YuNet: (178, 63, 90, 114)


def test_the_dnn_backend_gives_the_recognizers_embedding(photos, scorer):
    """The OpenCV 5 fallback (SFace through cv2.dnn) is exercised here on OpenCV 4 too."""
    dnn = IdentityScorer(backend="dnn")
    first = scorer.embed(photos["grace_hopper"])
    second = dnn.embed(photos["grace_hopper"])
    assert dnn.backend == "dnn"
    assert IdentityScorer.similarity(first, second) == pytest.approx(1.0, abs=1e-4)
    score = dnn.score(photos["astronaut"], photos["grace_hopper"])
    assert score.similarity == pytest.approx(
        scorer.score(photos["astronaut"], photos["grace_hopper"]).similarity, abs=1e-3
    )


def test_a_compare_reuses_one_source_embedding(photos, scorer):
    source = scorer.embed(photos["astronaut"])
    outputs = [calibration.jpeg(photos["astronaut"], 30), photos["grace_hopper"], photos["rocket"]]
    scores = [scorer.compare(source, scorer.embed(rgb)) for rgb in outputs]
    assert [s.note for s in scores] == ["same person", "identity drift", "no face in the output"]


def test_pixels_that_are_not_rgb_are_refused(scorer):
    with pytest.raises(InvalidRequest):
        scorer.embed(np.zeros((64, 64), np.uint8))
    with pytest.raises(InvalidRequest):
        IdentityScorer(backend="gpu")  # type: ignore[arg-type]
