from __future__ import annotations

import pytest

from photogen.domain.errors import InvalidRequest
from photogen.intake import calibration
from photogen.scoring.review import IDENTITY_DRIFT_FIX, score_output, score_outputs, sort_by


def test_a_faithful_output_has_no_fix(photos, scorer):
    record = score_output(photos["astronaut"], calibration.jpeg(photos["astronaut"], 20), scorer)
    assert record["identity"] > 0.75
    assert record["identity_note"] == "same person"
    assert not record["identity_drift"]
    assert record["structure"] > 0.8
    assert record["fix"] is None


def test_a_drifted_face_gets_the_fix(photos, scorer):
    record = score_output(photos["astronaut"], calibration.blur(photos["astronaut"], 5), scorer)
    assert record["identity_drift"]
    assert record["fix"] == IDENTITY_DRIFT_FIX == "identity drift: raise image strength"
    assert record["identity"] < record["identity_threshold"]


def test_a_scene_without_faces_has_structure_only(photos, scorer):
    coffee = photos["coffee"]
    record = score_output(coffee, calibration.blur(coffee, 2), scorer)
    assert record["identity"] is None
    assert record["identity_note"] == "no face in the source"
    assert not record["identity_drift"] and record["fix"] is None
    assert 0.5 < record["structure"] < 1.0


def test_a_batch_sorts_by_identity_and_by_structure(photos, scorer):
    astronaut = photos["astronaut"]
    outputs = [
        calibration.blur(astronaut, 3),  # identity 0.64
        calibration.jpeg(astronaut, 50),  # identity ~0.95, structure highest
        calibration.blur(astronaut, 5),  # identity 0.22: drift
        calibration.downscale(photos["coffee"][:, 100:500], 512),  # no face: not comparable
    ]
    records = score_outputs(astronaut, outputs, scorer)
    assert [r["identity_drift"] for r in records] == [False, False, True, False]
    assert records[3]["identity"] is None and records[3]["identity_note"] == "no face in the output"
    assert sort_by(records, "identity") == [1, 0, 2, 3]
    assert sort_by(records, "identity", descending=False) == [2, 0, 1, 3]
    assert sort_by(records, "structure") == [1, 0, 2, 3]
    with pytest.raises(InvalidRequest):
        sort_by(records, "beauty")
