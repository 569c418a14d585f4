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
from photogen.restoration.repair import FEATHER_PX, MODEL_MASK_GROW_PX, repair
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
    assert steps["colourise"]["done"] and steps["repair"]["method"] == "opencv"  # no inpainting pipeline: OpenCV
    assert "no inpainting pipeline" in steps["repair"]["note"]
    coloured = np.asarray(result.pieces[kinds.index("colourise")].image).astype(np.int16)
    assert np.abs(coloured[..., 0] - coloured[..., 2]).mean() > 1.0  # no longer grey
    assert steps["colourise"]["structure"] > 0.9  # the scan's own lightness at full resolution


def test_colourise_is_refused_on_a_model_that_takes_descriptions(tiny, sample_photos):
    with pytest.raises(PhotogenError) as refused:
        run_restore(Image.fromarray(sample_photos["camera"][..., :3][::4, ::4]), model=tiny, colourise_scan=True)
    assert refused.value.code == "colourise_unsupported"
