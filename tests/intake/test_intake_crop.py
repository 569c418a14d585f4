"""Crop presets placed on faces, subjects or the centre; the original crop API keeps working."""

from __future__ import annotations

import numpy as np
import pytest

from photogen.domain.errors import InvalidRequest
from photogen.intake import calibration as degrade
from photogen.intake.crop import CropPlan, centred_box, move_crop, plan_crop, plan_preset_crop
from photogen.intake.decode import decode_image
from photogen.intake.pipeline import frame_photo
from photogen.intake.presets import PRESETS, get_preset


def _inside(inner, outer, slack=0.0):
    left, top, right, bottom = inner
    return (
        left >= outer[0] - slack
        and top >= outer[1] - slack
        and right <= outer[2] + slack
        and bottom <= outer[3] + slack
    )


def _face_ltrb(face):
    x, y, w, h = face.box
    return x, y, x + w, y + h


def test_centred_plan_is_unchanged():
    plan = plan_crop((1000, 500), (1.0, 1.0), 512 * 512)
    assert plan.box == centred_box((1000, 500), (512.0, 512.0)) == (250, 0, 750, 500)
    assert plan.output_size == (512, 512) and plan.as_dict() == {
        "box": [250, 0, 750, 500],
        "output_size": [512, 512],
    }


def test_headshot_on_the_astronaut_holds_the_whole_face_with_eyes_in_the_top_half(astronaut, detector):
    decoded = decode_image(degrade.png_bytes(astronaut))
    crop = frame_photo(decoded, "linkedin", detector=detector)
    face = detector.detect(astronaut)[0]
    left, top, right, bottom = crop.plan.box
    assert crop.preset == "headshot" and crop.anchor == "face"
    assert _inside(_face_ltrb(face), crop.plan.box)
    eyes_y = face.eyes_centre[1]
    assert (eyes_y - top) / (bottom - top) < 0.5
    assert (right - left) / (bottom - top) == pytest.approx(0.8, abs=0.01)
    assert crop.upscale > 1 and crop.target_size == (800, 1000)


def test_headshot_with_room_puts_the_eyes_at_40_percent_and_the_face_at_40_percent_of_the_height(
    astronaut, detector
):
    roomy = np.pad(astronaut, ((300, 0), (0, 0), (0, 0)), mode="edge")  # space above the head
    face = detector.detect(roomy)[0]
    crop = plan_preset_crop((roomy.shape[1], roomy.shape[0]), "headshot", faces=[face])
    left, top, right, bottom = crop.plan.box
    assert (face.eyes_centre[1] - top) / (bottom - top) == pytest.approx(0.4, abs=0.01)
    assert face.height / (bottom - top) == pytest.approx(0.4, abs=0.01)
    assert (left + right) / 2 == pytest.approx(face.eyes_centre[0], abs=1)


def test_square_post_centres_on_the_face(photos, detector):
    grace = photos["grace_hopper"]  # 512x600: the square crop can only move up or down
    face = detector.detect(grace)[0]
    crop = plan_preset_crop((512, 600), "instagram-square", faces=[face])
    assert crop.anchor == "face" and crop.plan.box[2] - crop.plan.box[0] == 512
    assert _inside(_face_ltrb(face), crop.plan.box)
    eyes = (face.eyes_centre[1] - crop.plan.box[1]) / 512
    assert eyes == pytest.approx(1 / 3, abs=0.02)


def test_product_square_keeps_a_clean_margin_around_the_subject(photos):
    canvas = np.full((900, 1400, 3), 246, np.uint8)
    canvas[300:570, 800:1100] = photos["coffee"][60:330, 150:450]  # a cup on a plain backdrop, off centre
    decoded = decode_image(degrade.png_bytes(canvas))
    crop = frame_photo(decoded, "product-square")
    left, top, right, bottom = crop.plan.box
    assert crop.anchor == "subject" and right - left == bottom - top
    margin = 0.07 * (right - left)
    assert left <= 800 - margin and right >= 1100 + margin and top <= 300 - margin and bottom >= 570 + margin
    assert _inside((800, 300, 1100, 570), crop.plan.box)


def test_product_hero_without_a_backdrop_uses_saliency(photos):
    crop = frame_photo(decode_image(degrade.png_bytes(photos["coffee"])), "product-hero")
    left, top, right, bottom = crop.plan.box
    assert crop.anchor == "subject" and (right - left) / (bottom - top) == pytest.approx(16 / 9, abs=0.02)
    assert left < 300 < right and top < 200 < bottom  # the cup sits around the middle


def test_nothing_to_find_falls_back_to_the_centre():
    flat = np.full((300, 600, 3), 128, np.uint8)
    crop = frame_photo(decode_image(degrade.png_bytes(flat)), "instagram-portrait")
    assert crop.anchor == "centre" and crop.plan.box == centred_box((600, 300), (1080.0, 1350.0))


@pytest.mark.parametrize("preset", [*PRESETS, "poster:50x70cm@150", "custom:3:2", "custom:1:4"])
@pytest.mark.parametrize("photo", ["astronaut", "coffee", "grace_hopper"])
def test_every_preset_gives_a_box_inside_the_photo_at_its_output_ratio(photos, detector, preset, photo):
    pixels = photos[photo]
    decoded = decode_image(degrade.png_bytes(pixels))
    crop = frame_photo(decoded, preset, detector=detector)
    left, top, right, bottom = crop.plan.box
    assert 0 <= left < right <= pixels.shape[1] and 0 <= top < bottom <= pixels.shape[0]
    out_w, out_h = crop.plan.output_size
    assert (right - left) / (bottom - top) == pytest.approx(out_w / out_h, rel=0.02)
    assert crop.plan.apply(decoded.image).size == crop.plan.output_size


def test_native_pixels_size_the_plan_for_the_model(astronaut, detector):
    face = detector.detect(astronaut)[0]
    crop = plan_preset_crop((512, 512), "headshot", faces=[face], native_pixels=512 * 512)
    out_w, out_h = crop.plan.output_size
    assert out_w % 8 == 0 and out_h % 8 == 0 and abs(out_w * out_h - 512 * 512) < 0.05 * 512 * 512
    assert crop.target_size == (800, 1000)


def test_preset_specs():
    poster = get_preset("poster:50x70cm@300")
    assert poster.size == (5906, 8268) and poster.dpi == 300 and poster.ratio == (50.0, 70.0)
    assert get_preset("poster:8x10in").size == (2400, 3000)
    assert get_preset("custom:3:2").ratio == (3.0, 2.0) and get_preset("custom:3:2").size is None
    assert get_preset("LinkedIn") is PRESETS["headshot"] and get_preset("instagram").ratio == (1, 1)
    for bad in ("passport", "custom:0:1", "custom:30:1", "poster:10x10@0", "poster:axb"):
        with pytest.raises(InvalidRequest) as refused:
            get_preset(bad)
        assert refused.value.code == "unknown_preset" and "headshot" in refused.value.hint


def test_custom_ratio_keeps_the_crop_size_and_never_needs_upscaling(astronaut):
    crop = plan_preset_crop((512, 512), "custom:3:2")
    assert crop.upscale == pytest.approx(1.0) and crop.plan.output_size == (512, 341)


def test_the_user_can_move_the_box_and_it_stays_inside():
    plan = CropPlan(box=(100, 100, 300, 350), output_size=(400, 500))
    assert move_crop(plan, (1000, 800), 50, -20).box == (150, 80, 350, 330)
    assert move_crop(plan, (1000, 800), 5000, 5000).box == (800, 550, 1000, 800)
    assert move_crop(plan, (1000, 800), -500, 0).output_size == (400, 500)


def test_framing_a_reduced_decode_matches_the_full_decode(astronaut, detector):
    import cv2

    big = degrade.jpeg_bytes(cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_CUBIC), 92)
    full = frame_photo(decode_image(big), "headshot", detector=detector)
    reduced = frame_photo(decode_image(big, min_long_side=768), "headshot", detector=detector)
    assert np.abs(np.subtract(full.plan.box, reduced.plan.box)).max() <= 8


def test_the_suggested_box_is_the_box_a_model_run_uses(astronaut, detector):
    face = detector.detect(astronaut)[0]
    suggested = plan_preset_crop((512, 512), "headshot", faces=[face])
    for native in (512 * 512, 768 * 768, 1024 * 1024):
        for_model = plan_preset_crop((512, 512), "headshot", faces=[face], native_pixels=native)
        assert for_model.plan.box == suggested.plan.box
    square = plan_preset_crop((512, 512), "headshot", faces=[face], explicit_size=(512, 512))
    left, top, right, bottom = square.plan.box
    assert right - left == bottom - top and square.plan.output_size == (512, 512)
