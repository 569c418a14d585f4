"""Inpainting with the loaded model's own weights: the inpainting pipeline of its family, built from the
pieces of the pipeline already loaded (no second copy of the weights).

Stable Diffusion 1.x and 2.x: diffusers' StableDiffusionInpaintPipeline; SDXL: StableDiffusionXLInpaintPipeline.
A UNet trained for inpainting (nine input channels) is given the mask and the masked image; an ordinary UNet
(four) has its latents outside the mask put back from the source at every step. Families without an
inpainting pipeline here (the instruction-edit models) give None, and the caller falls back to OpenCV.
"""

from __future__ import annotations

import contextlib
from typing import Any

from PIL import Image

from photogen.engines.base import Generator, InterruptCheck

INPAINT_PIPELINES = {
    "StableDiffusionImg2ImgPipeline": "StableDiffusionInpaintPipeline",
    "StableDiffusionXLImg2ImgPipeline": "StableDiffusionXLInpaintPipeline",
}


def _unwrapped(generator: Generator) -> Any:
    inner = generator
    while hasattr(inner, "_generator"):  # an InterruptibleGenerator around the loaded one
        inner = inner._generator
    return inner


class DiffusersInpainter:
    """One tile at a time: `inpaint(tile, mask)` fills the mask's white pixels and returns the tile's size."""

    def __init__(self, generator: Generator, pipeline: Any, lock: Any) -> None:
        self.info = generator.info
        self.tile = max(generator.native_size((1.0, 1.0)))
        self._pipe = pipeline
        self._lock = lock or contextlib.nullcontext()
        self.pipeline_name = type(pipeline).__name__
        # the model's own scheduler, made afresh for each tile: the loaded pipeline shares its scheduler object,
        # whose state each generation changes
        base = dict(getattr(_unwrapped(generator), "scheduler_config", None) or
                    {"_class_name": type(pipeline.scheduler).__name__, **pipeline.scheduler.config})
        self._scheduler_class = base.pop("_class_name")
        self._scheduler_config = base

    def inpaint(self, image: Image.Image, mask: Image.Image, *, prompt: str, negative_prompt: str = "",
                seed: int = 0, steps: int = 20, strength: float = 0.6, guidance: float = 5.0,
                interrupt: InterruptCheck | None = None) -> Image.Image:
        import torch

        def on_step(_pipe: Any, _step: int, _timestep: Any, kwargs: dict) -> dict:
            if interrupt is not None:
                interrupt()
            return kwargs

        import diffusers

        with self._lock, torch.inference_mode():
            self._pipe.scheduler = getattr(diffusers, self._scheduler_class).from_config(self._scheduler_config)
            result = self._pipe(
                prompt=prompt, negative_prompt=negative_prompt or None, image=image, mask_image=mask,
                width=image.width, height=image.height, strength=strength, num_inference_steps=steps,
                guidance_scale=guidance, generator=torch.Generator("cpu").manual_seed(seed),
                callback_on_step_end=on_step, output_type="pil",
            ).images[0]
        return result.convert("RGB")

    def record(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline_name, "model": self.info.id, "tile": self.tile}


def inpainter_for(generator: Generator | None) -> DiffusersInpainter | None:
    """The loaded model's inpainting pipeline, or None when its family has none here."""
    if generator is None:
        return None
    inner = _unwrapped(generator)
    pipeline = getattr(inner, "pipeline", None)
    target = INPAINT_PIPELINES.get(type(pipeline).__name__) if pipeline is not None else None
    if target is None:
        return None
    import diffusers

    inpaint = getattr(diffusers, target).from_pipe(pipeline)
    inpaint.set_progress_bar_config(disable=True)
    return DiffusersInpainter(generator, inpaint, getattr(inner, "_lock", None))
