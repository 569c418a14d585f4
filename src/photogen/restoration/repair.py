"""Repair: the damage map's pixels filled in at the scan's own resolution.

1. OpenCV's inpainting (Telea's fast marching) fills every masked pixel from its surroundings, on the whole
   scan at full size. With no inpainting model, that is the repair.
2. With one (photogen.engines.inpaint), the model repaints the masked pixels over that fill, tile by tile
   at the model's own tile size (the scan is never shrunk): only tiles holding damage run the model, and the
   tiles are blended with the tiled upscale's seamless ramps.
   With an instruction-edit model instead (Capabilities.prompt_kind == "instruction": FLUX.2 [klein], FLUX.1
   Kontext, Qwen-Image-Edit), each damaged tile of that fill is the model's source, and it is told to repair
   the photograph (`REPAIR_INSTRUCTION`) through its own generate(); the same tiles, blends and seeds.
3. Only the damage changes: OpenCV's fill touches masked pixels only, and the model's tiles are put back
   through the mask grown by `MODEL_MASK_GROW_PX` and feathered by `FEATHER_PX`, so every pixel further than
   that from the damage is the scan's own.
4. A monochrome scan (black-and-white or toned) stays monochrome: of the model's pixels only the lightness
   (Lab L) is kept, under the fill's own colour, so a model's stray colour neither tints the print nor hides
   it from the tones step and colourisation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from photogen.domain.params import MAX_SEED, GenerationRequest
from photogen.engines.base import Generator, InterruptCheck, PreparedRequest
from photogen.engines.inpaint import DiffusersInpainter
from photogen.restoration.damage import is_monochrome
from photogen.restoration.tiling import tiled

REPAIR_PROMPT = "an old photograph, restored, clean, natural detail"
REPAIR_NEGATIVE = "scratches, dust, stains, cracks, text, watermark"
REPAIR_STEPS = 20
REPAIR_STRENGTH = 0.6  # the model starts from the OpenCV fill, partly noised: it keeps the fill's colours
INPAINT_RADIUS = 3
FEATHER_PX = 2
REPAIR_INSTRUCTION = ("Repair this old photograph: remove the scratches, dust, cracks and stains; keep everything "
                      "else exactly as it is")
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


class EditRepairer:
    """Repair by an instruction-edit model: a tile of the OpenCV fill is its source image, the instruction its
    prompt, and its output (the tile's size) comes from the model's own generate(). Edit models start from
    noise (no image strength): every one of `steps` runs."""

    def __init__(self, generator: Generator, instruction: str = REPAIR_INSTRUCTION) -> None:
        caps = generator.capabilities
        if caps.prompt_kind != "instruction":
            raise ValueError(f"model {generator.info.id} takes descriptions, not instructions")
        self.generator = generator
        self.instruction = instruction
        self.tile = max(generator.native_size((1.0, 1.0)))
        self.guidance = caps.default_guidance or 4.0

    def steps_for(self, steps: int) -> int:
        return max(steps, self.generator.capabilities.min_steps)

    def repaint(self, image: Image.Image, *, seed: int, steps: int,
                interrupt: InterruptCheck | None = None) -> Image.Image:
        request = GenerationRequest(prompt=self.instruction, image_strength=None, seed=seed,
                                    steps=self.steps_for(steps), guidance=self.guidance, width=image.width,
                                    height=image.height, model=self.generator.info.id)
        images = self.generator.generate([PreparedRequest(request=request, image=image)], None, interrupt)
        out = images[0][0].convert("RGB")
        if out.size != image.size:
            out = out.resize(image.size, Image.Resampling.LANCZOS)
        return out

    def record(self) -> dict[str, Any]:
        return {"model": self.generator.info.id, "family": self.generator.info.family, "tile": self.tile,
                "guidance": self.guidance}


def keep_lightness(model: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """The model's lightness (Lab L) under `colour`'s chroma (Lab a and b), as uint8 RGB."""
    import cv2

    pixels = np.clip(np.rint(model), 0, 255).astype(np.uint8)
    lab = cv2.cvtColor(pixels, cv2.COLOR_RGB2LAB)
    lab[..., 1:] = cv2.cvtColor(colour, cv2.COLOR_RGB2LAB)[..., 1:]
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def repair(rgb: np.ndarray, mask: np.ndarray, *, inpainter: DiffusersInpainter | None = None,
           editor: EditRepairer | None = None, seed: int = 0,
           prompt: str = REPAIR_PROMPT, steps: int = REPAIR_STEPS, strength: float = REPAIR_STRENGTH,
           interrupt: InterruptCheck | None = None, on_tile: Callable[[int, int], None] | None = None,
           check_work: Callable[[int, str], None] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """The repaired pixels (uint8, the scan's size) and the record of how. `check_work(pixel_steps, what)`
    hears the model's work once the damaged tiles are known, before any runs (the per-request work limit).
    `inpainter` (an inpainting pipeline) is used where given, else `editor` (an instruction-edit model)."""
    import cv2

    filled = opencv_fill(rgb, mask)
    record: dict[str, Any] = {"opencv": {"method": "telea", "radius": INPAINT_RADIUS}, "feather_px": FEATHER_PX,
                              "size": [int(rgb.shape[1]), int(rgb.shape[0])]}
    painter = inpainter if inpainter is not None else editor
    if painter is None or not mask.any():
        record["method"] = "opencv"
        return filled, record
    grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * MODEL_MASK_GROW_PX + 1,) * 2)
    model_mask = cv2.dilate(mask.astype(np.uint8), grow).astype(bool)
    tile = painter.tile
    padded_mask = np.zeros((max(rgb.shape[0], tile), max(rgb.shape[1], tile)), bool)
    padded_mask[: mask.shape[0], : mask.shape[1]] = model_mask
    counter = [0]
    if inpainter is None:
        steps = editor.steps_for(steps)
    denoising = max(1, int(steps * strength)) if inpainter is not None else steps  # edit models run every step

    def needs(box: tuple[int, int, int, int]) -> bool:
        left, top, right, bottom = box
        return bool(padded_mask[top:bottom, left:right].any())

    def work(pixels: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        left, top, right, bottom = box
        if interrupt is not None:
            interrupt()
        tile_seed = (seed + counter[0]) % (MAX_SEED + 1)
        counter[0] += 1
        source = Image.fromarray(pixels, "RGB")
        if inpainter is not None:
            tile_mask = Image.fromarray(padded_mask[top:bottom, left:right].astype(np.uint8) * 255, "L")
            out = inpainter.inpaint(source, tile_mask, prompt=prompt, negative_prompt=REPAIR_NEGATIVE,
                                    seed=tile_seed, steps=steps, strength=strength, interrupt=interrupt)
        else:
            out = editor.repaint(source, seed=tile_seed, steps=steps, interrupt=interrupt)
        return np.asarray(out)

    def before_work(count: int) -> None:
        if check_work is not None:
            check_work(count * tile * tile * denoising, f"{count} damaged tile(s) of {tile}x{tile} repainted")

    blended, tiles = tiled(filled, tile, work, needs, on_tile=on_tile, before_work=before_work)
    monochrome = is_monochrome(filled)
    if monochrome:
        blended = keep_lightness(blended, filled).astype(np.float32)
    weight = feather(model_mask)[..., None]
    repaired = np.clip(np.rint(filled * (1 - weight) + blended * weight), 0, 255).astype(np.uint8)
    record.update(grow_px=MODEL_MASK_GROW_PX, monochrome=monochrome,
                  kept="the model's lightness under the fill's colour" if monochrome else "the model's pixels")
    if inpainter is not None:
        record.update(method="model", model=inpainter.record(), prompt=prompt, negative_prompt=REPAIR_NEGATIVE,
                      steps=steps, strength=strength, seed=seed, **tiles)
    else:
        record.update(method="edit_model", model=editor.record(), instruction=editor.instruction, steps=steps,
                      seed=seed, **tiles)
    return repaired, record
