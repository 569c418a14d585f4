"""The fault checks: a covered face, bad light on the face, beauty filters, enlargement, animations.

Each fault is drawn onto a real photo (the degradations in `photogen.intake.calibration`) and must be found with
the right region, hue or size; the clean photos, faces or not, must pass every one of these checks.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from photogen.intake import calibration as degrade
from photogen.intake.pipeline import intake_photo
from photogen.intake.thresholds import Level

OK, WARN, BLOCK = Level.OK, Level.WARN, Level.BLOCK
FAULT_CHECKS = ("face_occlusion", "face_exposure", "face_colour", "skin_smoothing", "sharpening_halos", "saturation",
                "effective_resolution")  # fmt: skip


@pytest.fixture(scope="module")
def faces(photos, detector):
    return {name: detector.detect(photos[name])[0] for name in ("astronaut", "grace_hopper")}


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper", "coffee", "chelsea", "rocket", "camera"])
def test_clean_photos_pass_every_fault_check(photos, report_for, name):
    report = report_for(photos[name], "headshot" if name in ("astronaut", "grace_hopper") else "general")
    measured = {check.name: check for check in report.checks if check.name in FAULT_CHECKS}
    assert {"sharpening_halos", "saturation", "effective_resolution"} <= set(measured)
    assert measured["effective_resolution"].value == 1.0, measured["effective_resolution"].message
    for check in measured.values():
        assert check.level is OK, check.as_dict()
    if name in ("astronaut", "grace_hopper"):  # frontal colour portraits: every face check is measured
        assert set(FAULT_CHECKS) <= set(measured)
        assert measured["face_occlusion"].message == "the eyes and the mouth are visible"


# photo, fault, the region the message must name, the region it must not, covered features, kind of cover
OCCLUSIONS = [
    ("astronaut", lambda p, f: degrade.sunglasses(p, f), "eyes", "mouth", 2, "dark"),
    ("grace_hopper", lambda p, f: degrade.sunglasses(p, f), "eyes", "mouth", 2, "dark"),
    ("astronaut", lambda p, f: degrade.hair(p, f, "eyes"), "eyes", "mouth", 2, "dark"),
    ("grace_hopper", lambda p, f: degrade.hair(p, f, "mouth"), "mouth", "eye", 1, "dark"),
    ("astronaut", lambda p, f: degrade.hand(p, f, "eyes"), "eyes", "mouth", 2, "plain"),
    ("grace_hopper", lambda p, f: degrade.hand(p, f, "mouth"), "mouth", "eye", 1, "plain"),
    ("astronaut", lambda p, f: degrade.hand(p, f, "mouth"), "mouth", "eye", 1, "plain"),
    ("astronaut", lambda p, f: degrade.mask(p, f), "mouth", "eye", 1, "plain"),
]


@pytest.mark.parametrize(("photo", "fault", "region", "not_region", "covered", "kind"), OCCLUSIONS,
                         ids=["sunglasses", "sunglasses-grace", "hair-eyes", "hair-mouth", "hand-eyes", "hand-mouth",
                              "hand-mouth-astronaut", "mask"])  # fmt: skip
def test_a_covered_face_names_the_covered_region(
    photos, faces, report_for, photo, fault, region, not_region, covered, kind
):
    pixels = fault(photos[photo], faces[photo])
    check = report_for(pixels, "headshot").check("face_occlusion")
    assert check is not None, "the face must still be found and judged"
    assert check.value == covered, check.message
    assert f"the {region} look" in check.message and f"something {kind}" in check.message
    assert not_region not in check.message
    assert check.level is (BLOCK if covered > 1 else WARN) and check.fix
    general = report_for(pixels, "general").check("face_occlusion")
    assert general.level is WARN  # uses that are not strict about faces warn at most


@pytest.mark.parametrize(("gains", "hue"), [((1.3, 0.65, 1.3), "magenta"), ((0.75, 1.2, 0.75), "green")])
def test_coloured_light_on_the_face_is_named_by_hue(astronaut, report_for, gains, hue):
    check = report_for(degrade.colour_cast(astronaut, gains)).check("face_colour")
    assert check.level is WARN and check.message.startswith(f"{hue} light on the face")
    assert "white balance" in check.fix
    # warm indoor light is a look, not a fault
    assert report_for(degrade.colour_cast(astronaut, (1.25, 1.0, 0.55))).check("face_colour").level is OK


def test_a_dark_face_on_a_bright_suit_is_found_while_the_average_looks_fine(astronaut, faces, report_for):
    report = report_for(degrade.face_exposure(astronaut, faces["astronaut"].box, -4))
    assert report.check("exposure").level is OK  # the white suit keeps the average up
    check = report.check("face_exposure")
    assert check.level is WARN and check.value < 70 and "underexposed" in check.message and check.fix
    assert "skin smoothing: the face is too dark to judge its texture" in report.skipped


def test_black_and_white_photos_are_not_judged_for_colour(photos, report_for):
    report = report_for(photos["camera"])
    assert report.check("face_colour") is None
    assert "face colour: the photo is black and white" in report.skipped


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_a_beauty_filter_shows_as_smoothed_skin_and_halos(photos, faces, report_for, name):
    filtered = degrade.sharpen(degrade.smooth_skin(photos[name], faces[name].box), 2, 2)
    report = report_for(filtered)
    smoothing, halos = report.check("skin_smoothing"), report.check("sharpening_halos")
    assert smoothing.level is WARN and "beauty filter" in smoothing.message and smoothing.fix
    assert halos.level is WARN and "halos" in halos.message and halos.fix


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper", "coffee", "chelsea"])
def test_boosted_saturation_warns(photos, report_for, name):
    assert report_for(photos[name]).check("saturation").level is OK
    check = report_for(degrade.saturate(photos[name], 1.6)).check("saturation")
    assert check.level is WARN and "boosted" in check.message and check.fix


def _true_size(message: str) -> tuple[int, int]:
    found = re.search(r"about (\d+)x(\d+) px", message)
    assert found, message
    return int(found.group(1)), int(found.group(2))


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper", "coffee", "chelsea", "rocket", "camera"])
@pytest.mark.parametrize("resample", ["bicubic", "nearest"])
def test_a_thumbnail_blown_up_to_1024_px_says_so_and_how_small_it_was(photos, report_for, name, resample):
    thumbnail = degrade.downscale(photos[name], 150)
    enlarged = degrade.enlarge(photos[name], 150, 1024, resample)
    assert max(enlarged.shape[:2]) == 1024
    check = report_for(enlarged).check("effective_resolution")
    assert check.level is BLOCK and check.fix, check.message
    width, height = _true_size(check.message)
    true_long = max(width, height)
    if resample == "nearest":  # repeated pixels give the size exactly
        assert abs(true_long - 150) <= 3 and "pixels repeat" in check.message
    else:  # where the detail ends gives it within the calibration's spread
        assert 0.6 * 150 <= true_long <= 1.4 * 150, check.message
    assert (width >= height) == (thumbnail.shape[1] >= thumbnail.shape[0])


def test_an_enlarged_thumbnail_saved_as_jpeg_is_still_found(astronaut, report_for):
    data = degrade.jpeg_bytes(degrade.enlarge(astronaut, 150, 1024), 90)
    check = report_for(data).check("effective_resolution")
    assert check.level is BLOCK and 90 <= max(_true_size(check.message)) <= 210


@pytest.mark.parametrize("image_format", ["GIF", "WEBP", "PNG"])
def test_an_animation_uses_its_first_frame_with_a_warning(astronaut, image_format):
    frames = [
        astronaut,
        degrade.exposure(astronaut, -2),
        degrade.blur(astronaut, 3),
        astronaut[:, ::-1].copy(),
    ]
    result = intake_photo(
        degrade.animated_bytes(frames, image_format), claimed_type=f"loop.{image_format.lower()}"
    )
    assert result.decoded.frame_count == 4
    check = result.report.check("animation")
    assert check.level is WARN and check.value == 4
    assert "4 frames" in check.message and "first frame" in check.message and check.fix
    first = np.asarray(result.decoded.image).astype(np.int16)
    tolerance = 40 if image_format == "GIF" else 1  # GIF keeps 256 colours
    assert np.abs(first - astronaut).mean() < tolerance / 4 and len(result.report.faces) == 1
    # the second frame is two stops darker: had it been used, the whole photo would read darker
    assert result.report.check("exposure").value > 100


def test_still_photos_have_no_animation_check(astronaut, report_for):
    assert report_for(astronaut).check("animation") is None
