"""Restoration's steps on real photos damaged in the test: the damage map finds the drawn damage, the repair
brings the damaged pixels back towards the clean photo, the tones undo fading and a sepia cast."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from photogen.domain.errors import PhotogenError
from photogen.restoration.damage import find_damage, is_monochrome, mask_from_image, open_mask
from photogen.restoration.repair import repair
from photogen.restoration.tones import measure_tones
from photogen.runner.restore import run_restore
from tests.restoration import degrade

# Measured on these photos (seed 7): recall 0.75-0.93, precision 0.29-0.39 (docs/restoration.md). Precision is
# low because real photos hold thin bright and dark lines of their own (a helmet's rim, an eye's catchlight).
MIN_RECALL, MIN_PRECISION = 0.7, 0.25


@pytest.mark.parametrize("name", ["astronaut", "camera", "grace_hopper"])
@pytest.mark.parametrize("faded", [False, True], ids=["plain", "faded-sepia"])
def test_the_damage_map_finds_most_drawn_scratches_and_dust(damaged_photos, name, faded):
    photo = damaged_photos[name]
    scan = photo.faded() if faded else photo.damaged
    found = find_damage(scan)
    recall, precision = degrade.recall_precision(found.mask, photo.visible)
    print(f"{name} {'faded-sepia' if faded else 'plain'}: recall {recall:.3f} precision {precision:.3f}")
    assert recall >= MIN_RECALL
    assert precision >= MIN_PRECISION
    assert found.mask.shape == scan.shape[:2]  # full resolution
    report = found.report()
    assert 0 < report["area_share"] < 0.1
    assert report["by_kind"]["scratches"] > 0 and report["by_kind"]["dust"] > 0


def test_an_undamaged_photo_has_a_smaller_map_than_its_damaged_copy(damaged_photos):
    photo = damaged_photos["grace_hopper"]
    assert find_damage(photo.clean).area_share < find_damage(photo.damaged).area_share / 1.4


@pytest.mark.parametrize("mask_kind", ["drawn", "detected"])
def test_the_repair_brings_the_masked_pixels_closer_to_the_clean_photo(damaged_photos, mask_kind):
    photo = damaged_photos["astronaut"]
    mask = photo.truth if mask_kind == "drawn" else find_damage(photo.damaged).mask
    repaired, record = repair(photo.damaged, mask)
    assert record["method"] == "opencv" and repaired.shape == photo.damaged.shape
    area = mask & photo.truth

    def error(pixels):
        return np.abs(pixels[area].astype(np.float64) - photo.clean[area]).mean()

    print(f"{mask_kind}: damaged {error(photo.damaged):.1f}, repaired {error(repaired):.1f}")
    assert error(repaired) < 0.5 * error(photo.damaged)
    assert np.array_equal(repaired[~mask], photo.damaged[~mask])  # nothing outside the mask moves


def test_tones_undo_fading_and_a_sepia_cast(sample_photos):
    for name in ("astronaut", "camera"):
        clean = sample_photos[name][..., :3]
        grey = np.repeat(clean.mean(axis=2, keepdims=True), 3, axis=2).astype(np.uint8)
        for truth in (clean, grey):
            faded = degrade.sepia(degrade.fade(truth))
            correction = measure_tones(faded, balance=is_monochrome(faded))
            restored = correction.apply(faded)
            before = np.abs(faded.astype(np.float64) - truth).mean()
            after = np.abs(restored.astype(np.float64) - truth).mean()
            assert after < 0.35 * before, (name, before, after)
    astronaut = sample_photos["astronaut"][..., :3]
    assert not is_monochrome(astronaut) and not is_monochrome(degrade.sepia(astronaut))
    assert is_monochrome(degrade.sepia(np.repeat(astronaut.mean(axis=2, keepdims=True), 3, axis=2).astype(np.uint8)))


def test_a_users_mask_replaces_the_detected_map_and_must_fit_the_scan(damaged_photos):
    photo = damaged_photos["camera"]
    painted = np.zeros(photo.damaged.shape[:2], np.uint8)
    painted[100:140, 200:260] = 255
    result = run_restore(Image.fromarray(photo.damaged), mask=Image.fromarray(painted, "L"))
    kinds = [piece.kind for piece in result.pieces]
    assert kinds == ["scan", "damage_mask", "mask_preview", "repair", "tones", "output"]
    assert np.array_equal(np.asarray(result.pieces[0].image), photo.damaged)
    assert np.array_equal(np.asarray(result.pieces[1].image) > 0, painted > 0)
    output = result.pieces[-1]
    assert output.image.size == (photo.damaged.shape[1], photo.damaged.shape[0])  # one output at the scan's size
    steps = [step["step"] for step in output.record["restoration"]["steps"]]
    assert steps == ["damage_mask", "repair", "tones", "faces"]
    assert output.record["restoration"]["damage"]["source"] == "user"
    with pytest.raises(PhotogenError) as refused:
        mask_from_image(painted[:50], (photo.damaged.shape[1], photo.damaged.shape[0]))
    assert refused.value.code == "mask_size_mismatch"
    # strokes painted in any colour on a transparent layer: the strokes are the mask, the clear layer is not
    layer = np.zeros((*painted.shape, 4), np.uint8)
    layer[painted > 0] = (255, 0, 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(layer, "RGBA").save(buffer, format="PNG")
    opened = np.asarray(open_mask(buffer.getvalue()))
    assert np.array_equal(mask_from_image(opened, (painted.shape[1], painted.shape[0])), painted > 0)


def test_the_faces_pass_reports_identity_before_and_after(damaged_photos):
    photo = damaged_photos["astronaut"]
    result = run_restore(Image.fromarray(photo.damaged))
    faces = result.pieces[-1].record["restoration"]["steps"][-1]
    assert faces["method"] == "opencv_denoise" and len(faces["faces"]) == 1
    face = faces["faces"][0]
    assert face["similarity"] > 0.8 and not face["drift"] and face["kept"]
    assert faces["identity"]["similarity"] > 0.6 and not faces["identity"]["drift"]
    output = np.asarray(result.pieces[-1].image).astype(np.float64)
    area = photo.truth
    assert np.abs(output[area] - photo.clean[area]).mean() < np.abs(photo.damaged[area] - photo.clean[area].astype(np.float64)).mean()
