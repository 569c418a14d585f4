"""The diffusers image-to-image backend for the Stable Diffusion families (SD 1.x, SD 2.x, SDXL)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image

from photogen.engines.base import ModelInfo, PreparedRequest, StepCallback, check_compatible
from photogen.engines.schedulers import build_scheduler
from photogen.intake.crop import native_size


class DiffusersImg2ImgGenerator:
    """Runs a batch of compatible requests through one diffusers img2img pipeline call.

    Every image gets its own CPU generator seeded with its own seed, so image k of a batch can be
    made again alone. One lock guards the pipeline: its scheduler is per-call state.
    """

    def __init__(self, pipeline: Any, info: ModelInfo, device: str) -> None:
        self._pipe = pipeline
        self._device = device
        self._base_scheduler = dict(pipeline.scheduler.config)
        self._lock = threading.Lock()
        self.info = info

    @property
    def scheduler_config(self) -> dict[str, Any]:
        return dict(self._base_scheduler)

    def native_size(self, ratio: tuple[float, float]) -> tuple[int, int]:
        return native_size(ratio, self.info.native_pixels, multiple=8)

    def generate(
        self, batch: Sequence[PreparedRequest], on_step: StepCallback | None = None
    ) -> list[list[Image.Image]]:
        # 1. check inputs: one model, size, schedule and guidance for the whole batch
        check_compatible(batch)
        first = batch[0].request

        # 2. one row per output image: request r contributes num_images rows, seeds seed, seed+1, ...
        prompts, negatives, images, generators = [], [], [], []
        for item in batch:
            for seed in item.request.seeds():
                prompts.append(item.request.prompt)
                negatives.append(item.request.negative_prompt)
                images.append(item.image)
                generators.append(torch.Generator("cpu").manual_seed(seed))

        # 3. the step schedule: diffusers runs int(steps * strength) denoising steps; handing it
        #    (k + 0.5) / steps makes that exactly our k whatever the float rounding
        k = first.denoising_steps
        strength = min(1.0, (k + 0.5) / first.steps)

        def step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            if on_step is not None:
                on_step(step + 1, k)
            return tensors

        # 4. denoise and decode
        with self._lock, torch.inference_mode():
            self._pipe.scheduler = build_scheduler(first.scheduler, self._base_scheduler)
            result = self._pipe(
                prompt=prompts,
                negative_prompt=negatives,
                image=images,
                strength=strength,
                num_inference_steps=first.steps,
                guidance_scale=first.guidance,
                generator=generators,
                output_type="pil",
                callback_on_step_end=step_end,
            )

        # 5. regroup the rows per request
        out: list[list[Image.Image]] = []
        row = 0
        for item in batch:
            n = item.request.num_images
            out.append(list(result.images[row : row + n]))
            row += n
        return out
