"""Repair: the damage map's pixels filled in at the scan's own resolution.

1. OpenCV's inpainting (Telea's fast marching) fills every masked pixel from its surroundings, on the whole
   scan at full size. With no inpainting model, that is the repair.
2. With one (photogen.engines.inpaint), the model repaints the masked pixels over that fill, tile by tile
   at the model's own tile size (the scan is never shrunk): only tiles holding damage run the model, and the
   tiles are blended with the tiled upscale's seamless ramps.
3. Only the damage changes: OpenCV's fill touches masked pixels only, and the model's tiles are put back
   through the mask grown by `MODEL_MASK_GROW_PX` and feathered by `FEATHER_PX`, so every pixel further than
   that from the damage is the scan's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from photogen.domain.params import MAX_SEED
from photogen.engines.base import InterruptCheck
from photogen.engines.inpaint import DiffusersInpainter
from photogen.restoration.tiling import tiled

REPAIR_PROMPT = "an old photograph, restored, clean, natural detail"
REPAIR_NEGATIVE = "scratches, dust, stains, cracks, text, watermark"
REPAIR_STEPS = 20
REPAIR_STRENGTH = 0.6  # the model starts from the OpenCV fill, partly noised: it keeps the fill's colours
INPAINT_RADIUS = 3
FEATHER_PX = 2
MODEL_MASK_GROW_PX = 2  # the model repaints a little more than the mask, so its edge meets the scan smoothly


def feather(mask: np.ndarray, radius: int = FEATHER_PX) -> np.ndarray:
    """The mask as float weights: 1 on the mask, falling to 0 over `radius` px outside it."""
    import cv2

    if radius <= 0:
        return mask.astype(np.float32)
    distance = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)
    return np.clip(1.0 - distance / (radius + 1), 0.0, 1.0).astype(np.float32)


def opencv_fill(rgb: np.ndarray, mask: np.ndarray, radius: int = INPAINT_RADIUS) -> np.ndarray:
    import cv2

    if not mask.any():
        return rgb.copy()
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    filled = cv2.inpaint(bgr, mask.astype(np.uint8) * 255, radius, cv2.INPAINT_TELEA)
    return cv2.cvtColor(filled, cv2.COLOR_BGR2RGB)


def repair(rgb: np.ndarray, mask: np.ndarray, *, inpainter: DiffusersInpainter | None = None, seed: int = 0,
           prompt: str = REPAIR_PROMPT, steps: int = REPAIR_STEPS, strength: float = REPAIR_STRENGTH,
           interrupt: InterruptCheck | None = None, on_tile: Callable[[int, int], None] | None = None,
           check_work: Callable[[int, str], None] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """The repaired pixels (uint8, the scan's size) and the record of how. `check_work(pixel_steps, what)`
    hears the model's work once the damaged tiles are known, before any runs (the per-request work limit)."""
    import cv2

    filled = opencv_fill(rgb, mask)
    record: dict[str, Any] = {"opencv": {"method": "telea", "radius": INPAINT_RADIUS}, "feather_px": FEATHER_PX,
                              "size": [int(rgb.shape[1]), int(rgb.shape[0])]}
    if inpainter is None or not mask.any():
        record["method"] = "opencv"
        repaired = filled
    else:
        grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * MODEL_MASK_GROW_PX + 1,) * 2)
        model_mask = cv2.dilate(mask.astype(np.uint8), grow).astype(bool)
        padded_mask = np.zeros((max(rgb.shape[0], inpainter.tile), max(rgb.shape[1], inpainter.tile)), bool)
        padded_mask[: mask.shape[0], : mask.shape[1]] = model_mask
        counter = [0]

        def needs(box: tuple[int, int, int, int]) -> bool:
            left, top, right, bottom = box
            return bool(padded_mask[top:bottom, left:right].any())

        def work(pixels: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
            left, top, right, bottom = box
            if interrupt is not None:
                interrupt()
            tile_mask = Image.fromarray(padded_mask[top:bottom, left:right].astype(np.uint8) * 255, "L")
            tile_seed = (seed + counter[0]) % (MAX_SEED + 1)
            counter[0] += 1
            out = inpainter.inpaint(Image.fromarray(pixels, "RGB"), tile_mask, prompt=prompt,
                                    negative_prompt=REPAIR_NEGATIVE, seed=tile_seed, steps=steps,
                                    strength=strength, interrupt=interrupt)
            return np.asarray(out)

        def before_work(count: int) -> None:
            if check_work is not None:
                denoising = max(1, int(steps * strength))
                check_work(count * inpainter.tile * inpainter.tile * denoising,
                           f"{count} damaged tile(s) of {inpainter.tile}x{inpainter.tile} repainted")

        blended, tiles = tiled(filled, inpainter.tile, work, needs, on_tile=on_tile, before_work=before_work)
        weight = feather(model_mask)[..., None]
        repaired = np.clip(np.rint(filled * (1 - weight) + blended * weight), 0, 255).astype(np.uint8)
        record.update(method="model", model=inpainter.record(), prompt=prompt, negative_prompt=REPAIR_NEGATIVE,
                      steps=steps, strength=strength, seed=seed, **tiles)
    return repaired, record
