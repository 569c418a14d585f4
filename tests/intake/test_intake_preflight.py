"""Each check passes on the clean photo and fires, at the expected level, on a degraded version of it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from photogen.domain.errors import InvalidRequest
from photogen.intake import calibration as degrade
from photogen.intake.thresholds import ALL_THRESHOLDS, USES, Level

OK, WARN, BLOCK = Level.OK, Level.WARN, Level.BLOCK


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_every_check_is_ok_on_the_clean_portraits(photos, report_for, name):
    report = report_for(photos[name])
    assert report.level is OK, [c.as_dict() for c in report.findings()]
    assert len(report.faces) == 1
    measured = {check.name for check in report.checks}
    assert {
        "sharpness",
        "face_sharpness",
        "exposure",
        "noise",
        "backlight",
        "face_cutoff",
        "face_turn",
    } <= measured


@pytest.mark.parametrize("name", ["coffee", "chelsea"])
def test_photos_without_people_pass_and_find_no_face(photos, report_for, name):
    report = report_for(photos[name])
    assert report.check("face_count").value == 0
    # both are smaller than 512 px on the short side: the only finding is resolution
    assert [check.name for check in report.findings()] == ["resolution"]
    assert report.check("resolution").level is WARN


def _level(report, name):
    check = report.check(name)
    assert check is not None, f"{name} was not measured: {report.skipped}"
    return check.level


# (check, photo, degradation, use, expected level); each row's clean photo is ok for that check.
CASES = [
    ("sharpness", "astronaut", lambda p, f: degrade.blur(p, 2), "general", WARN),
    ("sharpness", "astronaut", lambda p, f: degrade.blur(p, 4), "general", BLOCK),
    ("face_sharpness", "astronaut", lambda p, f: degrade.blur(p, 2), "headshot", WARN),
    ("face_sharpness", "astronaut", lambda p, f: degrade.blur(p, 4), "headshot", BLOCK),
    ("exposure", "astronaut", lambda p, f: degrade.exposure(p, -3), "general", WARN),
    ("exposure", "astronaut", lambda p, f: degrade.exposure(p, -6), "general", BLOCK),
    ("exposure", "camera", lambda p, f: degrade.exposure(p, 2), "general", WARN),
    ("clipped_highlights", "astronaut", lambda p, f: degrade.exposure(p, 1), "general", WARN),
    ("clipped_highlights", "astronaut", lambda p, f: degrade.exposure(p, 2), "general", BLOCK),
    ("clipped_shadows", "coffee", lambda p, f: degrade.exposure(p, -5), "general", WARN),
    ("contrast", "astronaut", lambda p, f: degrade.contrast(p, 0.33), "general", WARN),
    ("contrast", "astronaut", lambda p, f: degrade.contrast(p, 0.15), "general", BLOCK),
    ("backlight", "astronaut", lambda p, f: degrade.backlight(p, f), "general", WARN),
    ("noise", "astronaut", lambda p, f: degrade.noise(p, 10), "general", WARN),
    ("noise", "astronaut", lambda p, f: degrade.noise(p, 25), "general", BLOCK),
    ("blockiness", "astronaut", lambda p, f: degrade.jpeg(p, 20), "general", WARN),
    ("blockiness", "astronaut", lambda p, f: degrade.jpeg(p, 10), "general", BLOCK),
    ("resolution", "astronaut", lambda p, f: degrade.downscale(p, 400), "general", WARN),
    ("resolution", "astronaut", lambda p, f: degrade.downscale(p, 200), "general", BLOCK),
    ("face_resolution", "astronaut", lambda p, f: degrade.downscale(p, 200), "general", WARN),
    ("face_resolution", "astronaut", lambda p, f: degrade.downscale(p, 120), "headshot", BLOCK),
    ("face_cutoff", "astronaut", lambda p, f: degrade.cut_face(p, f, 0.1), "headshot", WARN),
    ("face_cutoff", "astronaut", lambda p, f: degrade.cut_face(p, f, 0.4), "headshot", BLOCK),
    ("face_cutoff", "astronaut", lambda p, f: degrade.cut_face(p, f, 0.4), "general", WARN),
    ("face_tilt", "grace_hopper", lambda p, f: degrade.tilt(p, 25), "general", WARN),
]


@pytest.mark.parametrize(("check", "photo", "degradation", "use", "expected"), CASES,
                         ids=[f"{c[0]}-{c[4].value}-{i}" for i, c in enumerate(CASES)])  # fmt: skip
def test_check_fires_on_the_degraded_photo(
    photos, report_for, detector, check, photo, degradation, use, expected
):
    clean = photos[photo]
    face = detector.detect(clean)[0].box if detector.detect(clean) else None
    assert _level(report_for(clean, use), check) is OK
    report = report_for(degradation(clean, face), use)
    assert _level(report, check) is expected, report.check(check).as_dict()
    found = report.check(check)
    assert found.fix, "a finding must say how to fix it"
    assert found.threshold.describe() != "informational"


def test_jpeg_quality_is_read_from_the_file(astronaut, report_for):
    assert report_for(degrade.jpeg_bytes(astronaut, 90)).check("compression").level is OK
    medium = report_for(degrade.jpeg_bytes(astronaut, 40)).check("compression")
    assert medium.level is WARN and medium.value == 40
    low = report_for(degrade.jpeg_bytes(astronaut, 10)).check("compression")
    assert low.level is BLOCK and low.value == 10
    assert report_for(astronaut).check("compression") is None  # PNG: no quantisation table


def test_screenshot_of_a_photo_in_a_phone_frame_warns(astronaut, report_for):
    assert report_for(astronaut).check("screenshot").level is OK
    screen = np.full((2532, 1170, 3), 242, np.uint8)  # iPhone 12-14 screen, light app chrome
    screen[:140] = 250
    screen[-300:] = 236
    screen[900:1412, 329:841] = astronaut
    check = report_for(screen).check("screenshot")
    assert check.level is WARN
    assert "screen size" in check.message and "flat bars" in check.message


def test_turned_face_blocks_a_headshot_and_warns_otherwise(photos, report_for):
    cameraman = photos["camera"]  # turned to his camera, in profile
    assert report_for(cameraman, "headshot").check("face_turn").level is BLOCK
    assert report_for(cameraman, "general").check("face_turn").level is WARN
    assert report_for(photos["astronaut"], "headshot").check("face_turn").level is OK


def test_headshot_needs_exactly_one_face(photos, report_for):
    no_face = report_for(photos["coffee"], "headshot")
    assert no_face.check("face_count").level is BLOCK and no_face.blocked
    assert "face" in no_face.check("face_count").fix
    pair = np.concatenate([photos["astronaut"], photos["grace_hopper"][:512]], axis=1)
    two = report_for(pair, "headshot")
    assert two.check("face_count").value == 2 and two.check("face_count").level is WARN
    assert report_for(photos["coffee"], "general").check("face_count").level is OK


def test_face_size_relative_to_the_frame(astronaut, astronaut_face, report_for):
    # padded above and below, the face becomes about 4% of the photo's height
    tall = np.pad(astronaut, ((1100, 1100), (0, 0), (0, 0)), mode="edge")
    assert report_for(tall).check("face_size").level is WARN
    x, y, w, h = (round(v) for v in astronaut_face)
    tight = np.ascontiguousarray(astronaut[y - 10 : y + h + 10, max(0, x - 60) : x + w + 60])
    close = report_for(tight, "headshot").check("face_size")
    assert close.level is WARN and close.value > 0.6 and "step back" in close.fix
    assert report_for(tight, "general").check("face_size").level is OK  # a close-up is fine without a preset


def test_crop_fill_says_when_the_photo_cannot_fill_the_preset(astronaut, report_for):
    import cv2

    big = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    assert report_for(big, "instagram-square").check("crop_fill").level is OK
    square = report_for(astronaut, "instagram-square").check("crop_fill")
    assert square.level is WARN and square.value == pytest.approx(1080 / 512, abs=0.01)
    assert report_for(degrade.downscale(astronaut, 200), "instagram-square").check("crop_fill").level is BLOCK
    assert report_for(astronaut).check("crop_fill") is None  # "general" has no preset


def test_tiny_photo_reports_resolution_and_skips_pixel_checks(report_for):
    report = report_for(np.full((1, 1, 3), 128, np.uint8))
    assert [check.name for check in report.checks] == ["resolution"]
    assert report.blocked and report.skipped


def test_report_serialises_to_json_with_every_field(astronaut, report_for):
    report = report_for(astronaut, "headshot")
    document = json.loads(json.dumps(report.as_dict()))
    assert document["level"] == report.level.value
    assert document["crop"]["preset"] == "headshot"
    assert document["faces"][0]["landmarks"] and len(document["faces"][0]["landmarks"]) == 5
    for check in document["checks"]:
        assert set(check) == {"name", "level", "value", "unit", "threshold", "message", "fix"}
        assert check["level"] in ("ok", "warn", "block")
        assert (check["fix"] == "") == (check["level"] == "ok")


def test_unknown_use_is_refused_with_the_valid_ones(astronaut, report_for):
    with pytest.raises(InvalidRequest) as refused:
        report_for(astronaut, "passport")
    assert refused.value.code == "unknown_use" and "headshot" in refused.value.hint
    assert report_for(astronaut, "LinkedIn").use == "headshot"


def test_product_uses_skip_face_checks(photos, report_for):
    report = report_for(photos["astronaut"], "product-square")
    assert report.check("face_count") is None and not report.faces
    assert report.crop is not None and report.crop.anchor == "subject"


def test_docs_state_every_threshold_as_the_code_does(request):
    docs = (request.config.rootpath / "docs" / "intake.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip(): line for line in docs.splitlines() if line.startswith("| `")}
    for threshold in ALL_THRESHOLDS:
        row = rows.get(f"`{threshold.name}`")
        assert row is not None, f"{threshold.name} has no row in docs/intake.md"
        assert threshold.describe() in row, (threshold.name, threshold.describe())
    for use in USES:
        assert f"| `{use}`" in docs, use


def test_png_upload_bytes_round_trip_exactly(astronaut):
    from photogen.intake.decode import decode_image

    assert np.array_equal(np.asarray(decode_image(degrade.png_bytes(astronaut)).image), astronaut)
