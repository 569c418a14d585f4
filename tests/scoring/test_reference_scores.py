"""Scores against reference photos on real faces: scikit-image's astronaut (Eileen Collins) and matplotlib's Grace
Hopper; the head turn measured from the landmarks; the angle check before a run."""

from __future__ import annotations

import numpy as np

from photogen.intake import calibration
from photogen.scoring.identity import IDENTITY_DRIFT_THRESHOLD
from photogen.scoring.references import face_yaw, reference_embeddings, reference_scores
from photogen.services.references import angle_warnings


def test_an_output_is_scored_against_every_reference_face():
    sample = calibration.sample_photos()
    astronaut, hopper = sample["astronaut"], sample["grace_hopper"]
    coffee = sample["coffee"]
    embeddings = reference_embeddings([astronaut, np.ascontiguousarray(astronaut[:, ::-1]), coffee])
    assert len(embeddings) == 2  # the cup has no face

    same = reference_scores(calibration.jpeg(astronaut, 30), embeddings)  # a lossy copy of one reference
    assert same["identity_set"]["best"] > 0.8 and same["identity_set"]["mean"] > IDENTITY_DRIFT_THRESHOLD
    assert same["identity_set"]["best"] >= same["identity_set"]["mean"]
    assert not same["identity_set"]["drift"] and same["drift"] == []

    other = reference_scores(hopper, embeddings)
    assert other["identity_set"]["best"] < IDENTITY_DRIFT_THRESHOLD and other["identity_set"]["drift"]
    assert other["identity_set"]["note"] == "identity drift" and other["drift"] == ["identity_set"]

    faceless = reference_scores(coffee, embeddings, identity_drift=True)
    assert faceless["identity_set"]["best"] is None and faceless["identity_set"]["note"] == "no face in the output"
    assert faceless["drift"] == ["identity"]


def test_the_measured_turn_is_reported_beside_the_requested_one():
    astronaut = calibration.sample_photos()["astronaut"]
    yaw = face_yaw(astronaut)
    assert yaw is not None and abs(yaw) < 15
    # the same face asked to turn 30 degrees but not turned: measured, not reached, flagged
    scores = reference_scores(astronaut, None, angle=30, source_yaw=yaw)
    assert scores["angle"]["requested"] == 30 and scores["angle"]["turned"] == 0.0
    assert not scores["angle"]["reached"] and scores["drift"] == ["angle"]
    assert "identity_set" not in scores
    # asked for no turn at all: reached
    assert reference_scores(astronaut, None, angle=5, source_yaw=yaw)["angle"]["reached"]


def test_the_angle_check_before_a_run():
    assert angle_warnings(None, (), 1) == []
    assert angle_warnings(15, (-3.0,), 1) == []
    (one,) = angle_warnings(-45, (-3.0,), 1)
    assert "one photo" in one and "more than 30 degrees" in one
    assert angle_warnings(-45, (-3.0,), 2) == []  # two photos, but only one face measured: no coverage to judge
    (past,) = angle_warnings(30, (-3.0, 1.0), 2)  # both face the camera: +27 is past +16
    assert "cover -3 to +1" in past and "three-quarter right" in past
    assert angle_warnings(30, (-3.0, 25.0), 2) == []  # a three-quarter photo from that side covers it
    assert angle_warnings(-15, (0.0, 2.0), 2) == []  # within the margin
