"""The coverage report's rules on real faces: who is taken as the set's person, who is flagged, what is missing."""

from __future__ import annotations

import numpy as np
import pytest

from photogen.intake import calibration
from photogen.intake.faces import FaceDetector
from photogen.intake.reference import measure_face, measure_product
from photogen.scoring.coverage import Reference, coverage
from photogen.scoring.identity import IDENTITY_DRIFT_THRESHOLD


def mirrored(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[:, ::-1])


@pytest.fixture(scope="module")
def reference(scorer):
    def make(name: str, rgb: np.ndarray) -> Reference:
        embedded = scorer.embed(rgb)
        assert embedded is not None, name
        return Reference(name, name, True, (), measure_face(rgb, embedded.face), embedded.vector)

    return make


def test_a_mirrored_photo_turns_the_face_and_moves_the_light_to_the_other_side(photos):
    detector = FaceDetector()
    for name in ("camera", "astronaut"):
        rgb = photos[name]
        first = measure_face(rgb, detector.detect(rgb)[0])
        flipped = measure_face(mirrored(rgb), detector.detect(mirrored(rgb))[0])
        assert first.light_direction_stops * flipped.light_direction_stops < 0, name
        assert first.brightness == pytest.approx(flipped.brightness, abs=10)  # the boxes differ by a few pixels
        if name == "camera":  # a turned head; the astronaut looks straight at the camera (yaw within landmark noise)
            assert first.yaw_degrees > 30 and flipped.yaw_degrees < -30
            assert first.yaw_degrees == pytest.approx(-flipped.yaw_degrees, abs=8)  # measured 62 and -64


def test_a_weak_match_warns_and_a_face_past_recognising_does_not_pass(photos, reference):
    astronaut = photos["astronaut"]
    base = [reference("eileen.jpg", astronaut), reference("mirrored.jpg", mirrored(astronaut)),
            reference("dim.jpg", calibration.exposure(astronaut, -1))]
    weak = coverage(base + [reference("soft.jpg", calibration.blur(astronaut, 3.5))])
    assert [(f.name, f.level.value) for f in weak.flags] == [("soft.jpg", "warn")]
    soft = weak.references[-1]
    assert soft.similarity == pytest.approx(0.5, abs=0.1)  # measured 0.495; the others about 0.80
    assert all(v.similarity > soft.similarity + 0.2 for v in weak.references[:3])
    assert weak.consistency.level == "warn" and weak.level.value == "warn"
    smeared = coverage(base + [reference("smeared.jpg", calibration.blur(astronaut, 5))])
    assert [(f.name, f.level.value) for f in smeared.flags] == [("smeared.jpg", "block")]
    assert smeared.flags[0].similarity < IDENTITY_DRIFT_THRESHOLD


def test_the_largest_group_is_the_person_and_the_first_reference_breaks_a_tie(photos, reference):
    eileen, grace = photos["astronaut"], photos["grace_hopper"]
    refs = [reference("eileen.jpg", eileen), reference("grace.jpg", grace),
            reference("eileen-2.jpg", mirrored(eileen)), reference("grace-2.jpg", mirrored(grace))]
    tie = coverage(refs)
    assert [f.name for f in tie.flags] == ["grace.jpg", "grace-2.jpg"]  # two and two: the first photo's person
    assert tie.consistency.message.startswith("2 of 4 references look like one person")
    assert len(tie.consistency.pairs) == 6
    majority = coverage(refs[1:])  # Grace twice, Eileen once
    assert [f.name for f in majority.flags] == ["eileen-2.jpg"]
    strangers = coverage(refs[:2])
    assert strangers.flags == () and strangers.consistency.level == "block"
    assert "no two references look like the same person" in strangers.consistency.message
    assert coverage(refs[:1]).consistency.level == "not_measured"


def test_a_product_set_reports_distance_and_light_but_no_angles(photos):
    refs = [Reference(name, f"{name}.jpg", True, (), measure_product(photos[name])) for name in ("coffee", "rocket")]
    report = coverage(refs, kind="product")
    assert report.angles is None and report.consistency.level == "not_measured"
    assert report.usable == 2 and sum(report.distance.counts.values()) == 2
    assert report.distance.minimum < report.distance.maximum <= 1
    assert any("angles are not measured" in note for note in report.notes)
    unusable = Reference("blank", "blank.jpg", False, ("sharpness: the photo looks soft or blurred",))
    nothing = coverage([unusable], kind="product")
    assert nothing.usable == 0 and nothing.level.value == "block"
    assert nothing.references[0].note == "sharpness: the photo looks soft or blurred"
    assert nothing.missing[0].startswith("add a usable photo")
