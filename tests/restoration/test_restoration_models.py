"""Restoration with models: the loaded family's inpainting pipeline repairs in tiles at the scan's own size,
an instruction-edit model colourises, a description model is refused for colourising. Tiny random-weight
models: their pixels mean nothing, so these tests check the mechanics (where pixels may change, sizes, records,
identity flags), while test_restoration.py checks the quality of the OpenCV steps."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from photogen.domain.errors import PhotogenError
from photogen.engines.inpaint import inpainter_for
from photogen.restoration.repair import (FEATHER_PX, MODEL_MASK_GROW_PX, REPAIR_INSTRUCTION, EditRepairer,
                                         opencv_fill, repair)
from photogen.runner.restore import run_restore
from tests.restoration.conftest import damage


def test_the_inpainting_pipeline_repairs_only_near_the_mask_at_full_size(tiny, sample_photos):
    clean = sample_photos["astronaut"][..., :3][:200, 40:240]  # 200x200: not a multiple of the 128 px tile
    photo = damage(clean, seed=3)
    inpainter = inpainter_for(tiny)
    assert inpainter is not None and inpainter.pipeline_name == "StableDiffusionInpaintPipeline"
    mask = np.zeros(clean.shape[:2], bool)
    mask[20:40, 20:60] = True  # one tile's worth of damage: the other tiles do not run the model
    tiles = []
    repaired, record = repair(photo.damaged, mask, inpainter=inpainter, steps=2, strength=0.5,
                              on_tile=lambda done, total: tiles.append((done, total)))
    assert repaired.shape == photo.damaged.shape
    assert record["method"] == "model" and record["model"]["pipeline"] == "StableDiffusionInpaintPipeline"
    assert record["tiles"] == 4 and record["tiles_worked"] == 1 and tiles == [(1, 1)]
    import cv2

    reach = MODEL_MASK_GROW_PX + FEATHER_PX + 1
    near = cv2.dilate(mask.astype(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)).astype(bool)
    assert np.array_equal(repaired[~near], photo.damaged[~near])  # the scan's own pixels away from the damage
    assert not np.array_equal(repaired[mask], photo.damaged[mask])


def test_a_restoration_with_the_tiny_model_records_each_step_and_flags_face_drift(tiny, sample_photos):
    clean = sample_photos["astronaut"][..., :3][:192, 128:320]
    photo = damage(clean, seed=5)
    result = run_restore(Image.fromarray(photo.damaged), model=tiny, steps=2, seed=9)
    output = result.pieces[-1]
    assert output.image.size == (192, 192)
    steps = {step["step"]: step for step in output.record["restoration"]["steps"]}
    assert steps["repair"]["method"] == "model"
    faces = steps["faces"]
    # random weights wreck a face: the pass is measured, flagged as drift and undone there
    assert faces["method"] == "model" and faces["faces"]
    assert all(face["drift"] and not face["kept"] for face in faces["faces"]) and faces["drift"]


@pytest.fixture(scope="module")
def klein(models):
    return models.get("tiny-flux2-klein")


def test_an_instruction_model_colourises_a_black_and_white_scan_keeping_its_structure(klein, sample_photos):
    grey = sample_photos["camera"][..., :3][::4, ::4]  # 128x128
    result = run_restore(Image.fromarray(grey), model=klein, colourise_scan=True, steps=2)
    kinds = [piece.kind for piece in result.pieces]
    assert "colourise" in kinds
    steps = {step["step"]: step for step in result.pieces[-1].record["restoration"]["steps"]}
    assert steps["colourise"]["done"] and steps["repair"]["method"] == "edit_model"  # told to repair
    assert steps["repair"]["model"]["model"] == "tiny-flux2-klein" and "note" not in steps["repair"]
    assert steps["repair"]["monochrome"]  # only the model's lightness kept: the print stays black-and-white
    repaired = np.asarray(result.pieces[kinds.index("repair")].image).astype(np.int16)
    assert np.abs(repaired[..., 0] - repaired[..., 2]).max() <= 2
    assert steps["faces"]["method"] == "opencv_denoise" and "no image strength" in steps["faces"]["note"]
    coloured = np.asarray(result.pieces[kinds.index("colourise")].image).astype(np.int16)
    assert np.abs(coloured[..., 0] - coloured[..., 2]).mean() > 1.0  # no longer grey
    assert steps["colourise"]["structure"] > 0.9  # the scan's own lightness at full resolution


def test_colourise_is_refused_on_a_model_that_takes_descriptions(tiny, sample_photos):
    with pytest.raises(PhotogenError) as refused:
        run_restore(Image.fromarray(sample_photos["camera"][..., :3][::4, ::4]), model=tiny, colourise_scan=True)
    assert refused.value.code == "colourise_unsupported"


def test_an_instruction_edit_model_repairs_only_near_the_mask_and_repeats_with_its_seed(klein, sample_photos):
    import cv2

    clean = sample_photos["astronaut"][..., :3][:160, 200:360]  # 160x160: four 128 px tiles
    photo = damage(clean, seed=6)
    mask = np.zeros(clean.shape[:2], bool)
    mask[6:26, 8:26] = True  # inside the top-left tile only (the next tiles start at 32 px)
    mask[2:4, 2:28] = True
    editor = EditRepairer(klein)
    assert editor.tile == 128
    heard, tiles = [], []
    repaired, record = repair(photo.damaged, mask, editor=editor, steps=2, seed=11,
                              on_tile=lambda done, total: tiles.append((done, total)),
                              check_work=lambda work, what: heard.append((work, what)))
    assert repaired.shape == photo.damaged.shape
    assert record["method"] == "edit_model" and record["model"]["model"] == "tiny-flux2-klein"
    assert record["instruction"] == REPAIR_INSTRUCTION and record["steps"] == 2 and record["seed"] == 11
    assert record["tiles"] == 4 and record["tiles_worked"] == 1 and tiles == [(1, 1)]
    assert heard == [(128 * 128 * 2, "1 damaged tile(s) of 128x128 repainted")]  # every edit step counts
    reach = MODEL_MASK_GROW_PX + FEATHER_PX + 1
    near = cv2.dilate(mask.astype(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)).astype(bool)
    filled = opencv_fill(photo.damaged, mask)
    assert np.array_equal(repaired[~near], photo.damaged[~near])  # the scan's own pixels away from the damage
    assert np.array_equal(filled[~mask], photo.damaged[~mask])
    changed = np.abs(repaired.astype(np.int16) - filled).max(axis=2) > 0
    assert changed[mask].mean() > 0.5  # the model's pixels, not only OpenCV's fill, inside the mask
    again, _ = repair(photo.damaged, mask, editor=editor, steps=2, seed=11)
    assert np.array_equal(again, repaired)
    other, _ = repair(photo.damaged, mask, editor=editor, steps=2, seed=12)
    assert not np.array_equal(other[mask], repaired[mask])


def test_an_edit_model_repair_stops_at_an_interrupt_before_its_tile_runs(klein, sample_photos):
    class Stop(Exception):
        pass

    def interrupt():
        raise Stop

    mask = np.zeros((128, 128), bool)
    mask[40:60, 40:60] = True
    with pytest.raises(Stop):
        repair(sample_photos["camera"][..., :3][::4, ::4].copy(), mask, editor=EditRepairer(klein), steps=2,
               interrupt=interrupt)


def test_a_description_model_is_no_edit_repairer(tiny):
    with pytest.raises(ValueError):
        EditRepairer(tiny)


def test_qwen_image_edit_repairs_and_colourises_at_its_fewest_steps_when_asked_for_fewer(models, sample_photos):
    qwen = models.get("tiny-qwen-image-edit-plus")
    assert qwen.capabilities.min_steps == 2
    grey = damage(np.ascontiguousarray(sample_photos["camera"][..., :3][::4, ::4]), seed=2).damaged
    result = run_restore(Image.fromarray(grey), model=qwen, colourise_scan=True, steps=1, seed=1)
    kinds = [piece.kind for piece in result.pieces]
    steps = {step["step"]: step for step in result.pieces[-1].record["restoration"]["steps"]}
    repair_record, colour = steps["repair"], steps["colourise"]
    assert repair_record["method"] == "edit_model" and repair_record["steps"] == 2
    assert repair_record["model"]["tile"] == 64 and repair_record["tiles_worked"] >= 1  # its own native side
    assert colour["done"] and colour["steps"] == 2
    coloured = np.asarray(result.pieces[kinds.index("colourise")].image).astype(np.int16)
    assert np.abs(coloured[..., 0] - coloured[..., 2]).mean() > 1.0  # a working sampler's colour, not grey
