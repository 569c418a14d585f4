"""What the diffusers backends for instruction-edit families share (FLUX.2 [klein], FLUX.1 Kontext,
Qwen-Image-Edit-Plus).

Each family's generator writes its own denoising loop, step for step as its stock pipeline writes it and
built from the pipeline's own pieces, so that one request gives the stock pipeline's pixels for the same
seeds. Unlike the stock pipelines, a batch may mix prompts, seeds, sources, reference images and guidance
scales: each output image is a row with its own. This module holds the rows, the lock, the interrupt
hooks and the regrouping; a family's generator subclasses `EditGenerator` and writes `_run`.

A batch can be stopped inside a step: with an `interrupt` check, forward pre-hooks on the transformer's
blocks and on the VAE's blocks call it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from PIL import Image

from photogen.engines.base import (
    Capabilities,
    InterruptCheck,
    ModelInfo,
    PreparedRequest,
    StepCallback,
    check_compatible,
)
from photogen.intake.crop import native_size
from photogen.runtime import cpu_threads


@dataclass(frozen=True)
class EditRows:
    """One row per output image, request by request: request r contributes num_images rows, seeds seed,
    seed+1, ...; `spans` gives each request's rows, so that per-request work (prompt and image encoding)
    runs once per request, as the stock pipeline runs it once per call."""

    prompts: list[str]
    negatives: list[str]
    generators: list[torch.Generator]
    guidance: list[float]
    spans: list[tuple[PreparedRequest, int, int]]  # (request, first row, row count)

    @classmethod
    def of(cls, batch: Sequence[PreparedRequest]) -> EditRows:
        rows = cls([], [], [], [], [])
        for item in batch:
            rows.spans.append((item, len(rows.prompts), item.request.num_images))
            for seed in item.request.seeds():
                rows.prompts.append(item.request.model_prompt)
                rows.negatives.append(item.request.negative_prompt)
                rows.generators.append(torch.Generator("cpu").manual_seed(seed))
                rows.guidance.append(float(item.request.guidance))
        return rows

    def __len__(self) -> int:
        return len(self.prompts)


def guided_rows(rows: EditRows, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows that run a second, negative pass (guidance above 1), as indices (u,) and their scales (u, 1, 1)."""
    guided = [i for i, g in enumerate(rows.guidance) if g > 1.0]
    index = torch.tensor(guided, dtype=torch.long, device=device)
    scales = torch.tensor([rows.guidance[i] for i in guided], dtype=torch.float32, device=device)
    return index, scales.view(-1, 1, 1)


def combine_guidance(noise: torch.Tensor, negative: torch.Tensor, index: torch.Tensor,
                     scales: torch.Tensor) -> torch.Tensor:
    """negative + g * (positive - negative) for the guided rows; the others keep their positive prediction.

    The scale multiplies in float32 and rounds once, as a Python-float scale does in the stock pipelines."""
    positive = noise if len(index) == len(noise) else noise.index_select(0, index)
    guided = negative + (scales * (positive - negative).float()).to(noise.dtype)
    return guided if len(index) == len(noise) else noise.index_copy(0, index, guided)


class EditGenerator:
    """Runs compatible requests as one batch through a diffusers transformer pipeline.

    Every image gets its own CPU generator seeded with its own seed, so image k of a batch can be made again
    alone. One lock guards the pipeline: its scheduler is per-call state. Subclasses write `_run`.
    """

    def __init__(self, pipeline: Any, info: ModelInfo, device: str, capabilities: Capabilities) -> None:
        self._pipe = pipeline
        self.device = device
        self.capabilities = capabilities
        self._base_scheduler = {"_class_name": type(pipeline.scheduler).__name__, **pipeline.scheduler.config}
        self._lock = threading.Lock()
        self.info = replace(info, extra={**info.extra, "cpu_threads": cpu_threads()}) if device == "cpu" else info

    @property
    def pipeline(self) -> Any:
        """The diffusers pipeline whose pieces this generator runs (for inspection; not thread-safe to call)."""
        return self._pipe

    @property
    def scheduler_config(self) -> dict[str, Any]:
        return dict(self._base_scheduler)

    def native_size(self, ratio: tuple[float, float]) -> tuple[int, int]:
        return native_size(ratio, self.capabilities.native_pixels, multiple=self.capabilities.size_multiple)

    def weights_bytes(self) -> int:
        """Bytes of the pipeline's parameters and buffers as loaded (tied weights count once)."""
        tensors = {}
        for component in self._pipe.components.values():
            if hasattr(component, "parameters") and hasattr(component, "buffers"):
                tensors.update((id(t), t) for t in [*component.parameters(), *component.buffers()])
        return sum(t.numel() * t.element_size() for t in tensors.values())

    def generate(
        self,
        batch: Sequence[PreparedRequest],
        on_step: StepCallback | None = None,
        interrupt: InterruptCheck | None = None,
    ) -> list[list[Image.Image]]:
        """Run the batch; `on_step(done, total)` after each denoising step, `interrupt()` before each transformer
        and VAE block; raising from either stops the batch."""
        check_compatible(batch)
        rows = EditRows.of(batch)
        with self._lock, torch.inference_mode(), self._interruptible(interrupt):
            images = self._run(rows, batch[0].request.steps, batch[0].size, on_step, interrupt)
        return [images[first : first + count] for _item, first, count in rows.spans]

    def _run(self, rows: EditRows, steps: int, size: tuple[int, int], on_step: StepCallback | None,
             interrupt: InterruptCheck | None) -> list[Image.Image]:
        """The family's pipeline, one image per row, at `size` (width, height)."""
        raise NotImplementedError

    @contextlib.contextmanager
    def _interruptible(self, interrupt: InterruptCheck | None) -> Iterator[None]:
        if interrupt is None:
            yield
            return

        def check(_module: Any, _inputs: Any) -> None:
            interrupt()

        pipe = self._pipe
        transformer = pipe.transformer
        blocks: list[Any] = [*transformer.transformer_blocks, *getattr(transformer, "single_transformer_blocks", ())]
        for coder in (pipe.vae.encoder, pipe.vae.decoder):
            blocks += [*getattr(coder, "down_blocks", ()), coder.mid_block, *getattr(coder, "up_blocks", ())]
        handles = [block.register_forward_pre_hook(check) for block in blocks if block is not None]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _shifted_timesteps(self, image_tokens: int, steps: int, device: Any) -> tuple[Any, torch.Tensor]:
        """A fresh scheduler and its timesteps: the flow-matching sigmas, shifted for this many image tokens
        (FLUX.1 Kontext and Qwen-Image-Edit-Plus, as their pipelines set them)."""
        import numpy as np
        from diffusers.pipelines.flux.pipeline_flux_kontext import calculate_shift, retrieve_timesteps

        from photogen.engines.schedulers import build_scheduler

        scheduler = build_scheduler("default", self._base_scheduler)
        config = scheduler.config
        sigmas = np.linspace(1.0, 1 / steps, steps)
        mu = calculate_shift(image_tokens, config.get("base_image_seq_len", 256),
                             config.get("max_image_seq_len", 4096), config.get("base_shift", 0.5),
                             config.get("max_shift", 1.15))
        timesteps, _ = retrieve_timesteps(scheduler, steps, device, sigmas=sigmas, mu=mu)
        scheduler.set_begin_index(0)
        return scheduler, timesteps

    def _step_loop(self, timesteps: torch.Tensor, on_step: StepCallback | None,
                   interrupt: InterruptCheck | None) -> Iterator[tuple[int, torch.Tensor]]:
        """The timesteps, with the interrupt check before and the progress callback after each step."""
        for i, t in enumerate(timesteps):
            if interrupt is not None:
                interrupt()
            yield i, t
            if on_step is not None:
                on_step(i + 1, len(timesteps))
