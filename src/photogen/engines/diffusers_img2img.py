"""The diffusers image-to-image backend for the Stable Diffusion families (SD 1.x, SD 2.x, SDXL).

The denoising loop is ours, written step for step as diffusers' img2img pipelines write it and
built from the pipeline's own pieces (prompt encoding, image latents, scheduler, VAE), so that a
batch gives the same pixels as the stock pipeline, bit for bit, for the same seeds. Two things
differ: each image has its own guidance scale, so requests with different guidance share one
UNet batch, and the UNet is called through `UNetRunner`, which uses the compiled UNet when there is
one.

A batch can be stopped inside a step: with an `interrupt` check, forward pre-hooks on the UNet's
down, mid and up blocks and on the VAE's blocks call it, so a cancel or a deadline lands within a
fraction of a step however slow the step is.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from PIL import Image

from photogen.engines.preview import offer as offer_preview
from photogen.engines.base import (
    Capabilities,
    InterruptCheck,
    ModelInfo,
    PreparedRequest,
    StepCallback,
    check_compatible,
    img2img_capabilities,
)
from photogen.engines.optimize import UNetRunner
from photogen.engines.schedulers import build_scheduler
from photogen.intake.crop import native_size
from photogen.runtime import cpu_threads

# SDXL's size conditioning as its img2img pipeline sets it by default
AESTHETIC_SCORE, NEGATIVE_AESTHETIC_SCORE = 6.0, 2.5


@dataclass(frozen=True)
class BatchRows:
    """One row per output image: request r contributes num_images rows, seeds seed, seed+1, ..."""

    prompts: list[str]
    negatives: list[str]
    images: list[Image.Image]
    generators: list[torch.Generator]
    guidance: list[float]

    @classmethod
    def of(cls, batch: Sequence[PreparedRequest]) -> BatchRows:
        rows = cls([], [], [], [], [])
        for item in batch:
            for seed in item.request.seeds():
                rows.prompts.append(item.request.prompt)
                rows.negatives.append(item.request.negative_prompt)
                rows.images.append(item.image)
                rows.generators.append(torch.Generator("cpu").manual_seed(seed))
                rows.guidance.append(float(item.request.guidance))
        return rows

    def __len__(self) -> int:
        return len(self.prompts)


@dataclass(frozen=True)
class Conditioning:
    """What the UNet sees besides the latents, for its batch of len(guided) + n rows.

    Rows are ordered as diffusers orders them: first the negative-prompt rows of the images that
    use classifier-free guidance (`guided`, indices into the batch), then every image's prompt row.
    """

    embeds: torch.Tensor  # (len(guided) + n, tokens, width)
    guided: torch.Tensor  # (len(guided),) int64
    scales: torch.Tensor  # (len(guided), 1, 1, 1) float32: each guided image's guidance scale
    added: dict[str, Any] | None = None  # SDXL: text_embeds, time_ids; IP-Adapter: image_embeds; same row order
    timestep_cond: torch.Tensor | None = None  # guidance-distilled UNets: (n, dim)


class DiffusersImg2ImgGenerator:
    """Runs a batch of compatible requests as one UNet batch through a diffusers img2img pipeline.

    Every image gets its own CPU generator seeded with its own seed, so image k of a batch can be
    made again alone. One lock guards the pipeline: its scheduler is per-call state.
    """

    def __init__(self, pipeline: Any, info: ModelInfo, device: str, capabilities: Capabilities | None = None) -> None:
        self._pipe = pipeline
        self.capabilities = capabilities or img2img_capabilities(info.native_pixels)
        self.device = device
        self._xl = hasattr(pipeline, "text_encoder_2")
        self._base_scheduler = {"_class_name": type(pipeline.scheduler).__name__, **pipeline.scheduler.config}
        self._unet = UNetRunner(pipeline.unet, info.extra.get("optimizations", {}).get("compile"))
        self._lock = threading.Lock()
        # on the CPU, the thread settings in force (see photogen.runtime) are part of what a run records
        self.info = replace(info, extra={**info.extra, "cpu_threads": cpu_threads()}) if device == "cpu" else info

    @property
    def pipeline(self) -> Any:
        """The diffusers pipeline whose pieces this generator runs (for inspection; not thread-safe to call)."""
        return self._pipe

    @property
    def scheduler_config(self) -> dict[str, Any]:
        return dict(self._base_scheduler)

    def native_size(self, ratio: tuple[float, float]) -> tuple[int, int]:
        return native_size(ratio, self.info.native_pixels, multiple=self.capabilities.size_multiple)

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
        """Run the batch; `on_step(done, total)` after each denoising step, `interrupt()` before each UNet
        and VAE block; raising from either stops the batch."""
        # 1. check inputs: one model, size and step schedule for the whole batch; guidance may differ
        check_compatible(batch)
        first = batch[0].request
        rows = BatchRows.of(batch)

        with self._lock, torch.inference_mode(), self._interruptible(interrupt):
            pipe = self._pipe
            device = pipe._execution_device
            scheduler = build_scheduler(first.scheduler, self._base_scheduler)
            pipe.scheduler = scheduler  # prepare_latents adds noise with it

            # 2. prepare image: (n, 3, H, W) in [-1, 1]
            image = pipe.image_processor.preprocess(rows.images)

            # 3. encode prompts: the UNet's text conditioning for every row (and an adapter's, where there is one)
            cond = self._condition(batch, rows, image.shape[-2:], device)

            # 4. set timesteps: the last `denoising_steps` of `steps`
            timesteps = self._set_timesteps(scheduler, first.steps, first.denoising_steps, device)

            # 5. prepare latents: (n, 4, H/f, W/f), each image encoded and noised with its own generator
            latents = pipe.prepare_latents(
                image=image,
                timestep=timesteps[:1].repeat(len(rows)),
                batch_size=len(rows),
                num_images_per_prompt=1,
                dtype=cond.embeds.dtype,
                device=device,
                generator=rows.generators,
            )

            # 6. denoise
            extra_step_kwargs = pipe.prepare_extra_step_kwargs(rows.generators, 0.0)
            for i, t in enumerate(timesteps):
                if interrupt is not None:
                    interrupt()
                noise = self._predict_noise(scheduler, latents, t, cond)
                latents = scheduler.step(noise, t, latents, **extra_step_kwargs, return_dict=False)[0]
                if on_step is not None:
                    on_step(i + 1, len(timesteps))
                offer_preview(i + 1, len(timesteps), latents)

            # 7. decode: (n, 4, H/f, W/f) -> n PIL images
            images = self._decode(latents)

        # 8. regroup the rows per request
        out: list[list[Image.Image]] = []
        row = 0
        for item in batch:
            n = item.request.num_images
            out.append(images[row : row + n])
            row += n
        return out

    @contextlib.contextmanager
    def _interruptible(self, interrupt: InterruptCheck | None) -> Iterator[None]:
        """Forward pre-hooks that call `interrupt` before each block of the UNet and the VAE while the
        batch runs. A compiled UNet gets none (a hook would make it recompile): it is checked between steps.
        """
        if interrupt is None:
            yield
            return

        def check(_module: Any, _inputs: Any) -> None:
            interrupt()

        pipe = self._pipe
        blocks: list[Any] = []
        if not self._unet.compiled:
            blocks += [*pipe.unet.down_blocks, pipe.unet.mid_block, *pipe.unet.up_blocks]
        for coder in (pipe.vae.encoder, pipe.vae.decoder):
            blocks += [*getattr(coder, "down_blocks", ()), coder.mid_block, *getattr(coder, "up_blocks", ())]
        handles = [block.register_forward_pre_hook(check) for block in blocks if block is not None]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    # -- 3. prompts ---------------------------------------------------------------------------

    def _condition(self, batch: Sequence[PreparedRequest], rows: BatchRows, size: Sequence[int],
                   device: torch.device) -> Conditioning:
        """What the UNet sees besides the latents; an adapter's generator adds its own inputs here."""
        return self._encode_prompts(rows, size, device)

    def _encode_prompts(self, rows: BatchRows, size: Sequence[int], device: torch.device) -> Conditioning:
        pipe = self._pipe
        distilled = pipe.unet.config.time_cond_proj_dim is not None  # guidance is an input, not a CFG pair
        guided = [] if distilled else [i for i, g in enumerate(rows.guidance) if g > 1.0]
        index = torch.tensor(guided, dtype=torch.long, device=device)
        scales = torch.tensor([rows.guidance[i] for i in guided], dtype=torch.float32, device=device)
        common = {"device": device, "num_images_per_prompt": 1, "do_classifier_free_guidance": bool(guided)}
        added = None
        if self._xl:
            embeds, negative, pooled, negative_pooled = pipe.encode_prompt(
                prompt=rows.prompts, negative_prompt=rows.negatives, **common
            )
            time_ids, negative_time_ids = self._size_conditioning(tuple(size), pooled, embeds.dtype)
            time_ids = torch.cat([negative_time_ids.repeat(len(guided), 1), time_ids.repeat(len(rows), 1)])
            if guided:
                pooled = torch.cat([negative_pooled.index_select(0, index), pooled])
            added = {"text_embeds": pooled, "time_ids": time_ids.to(device)}
        else:
            embeds, negative = pipe.encode_prompt(rows.prompts, negative_prompt=rows.negatives, **common)
        if guided:
            embeds = torch.cat([negative.index_select(0, index), embeds])
        timestep_cond = None
        if distilled:
            scale = torch.tensor([g - 1 for g in rows.guidance])
            timestep_cond = pipe.get_guidance_scale_embedding(
                scale, embedding_dim=pipe.unet.config.time_cond_proj_dim
            ).to(device=device, dtype=embeds.dtype)
        return Conditioning(embeds.to(device), index, scales.view(-1, 1, 1, 1), added, timestep_cond)

    def _size_conditioning(
        self, size: tuple[int, int], pooled: torch.Tensor, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """SDXL's (original size, crop corner, target size) ids, the output's own size for both: (1, 6) each."""
        pipe = self._pipe
        projection = (
            pooled.shape[-1] if pipe.text_encoder_2 is None else pipe.text_encoder_2.config.projection_dim
        )
        return pipe._get_add_time_ids(
            size,
            (0, 0),
            size,
            AESTHETIC_SCORE,
            NEGATIVE_AESTHETIC_SCORE,
            size,
            (0, 0),
            size,
            dtype=dtype,
            text_encoder_projection_dim=projection,
        )

    # -- 4. timesteps -------------------------------------------------------------------------

    @staticmethod
    def _set_timesteps(
        scheduler: Any, steps: int, denoising_steps: int, device: torch.device
    ) -> torch.Tensor:
        scheduler.set_timesteps(steps, device=device)
        start = (steps - denoising_steps) * scheduler.order
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(start)
        return scheduler.timesteps[start:]

    # -- 6. one denoising step ----------------------------------------------------------------

    def _predict_noise(
        self, scheduler: Any, latents: torch.Tensor, t: torch.Tensor, cond: Conditioning
    ) -> torch.Tensor:
        """The guided noise prediction (n, 4, h, w): uncond + g * (cond - uncond) per guided image."""
        u = len(cond.guided)
        if u == len(latents):
            # every image guided: diffusers' own concatenation, which keeps the latents' memory layout
            model_input = torch.cat([latents] * 2)
        elif u:
            model_input = torch.cat([latents.index_select(0, cond.guided), latents])
        else:
            model_input = latents
        model_input = scheduler.scale_model_input(model_input, t)
        # the UNet casts the timestep to float; passing it as float32 keeps one compiled graph per shape
        timestep = t.to(dtype=torch.float32)
        noise = self._unet(model_input, timestep, cond.embeds, cond.added, cond.timestep_cond)
        if not u:
            return noise
        uncond, text = noise[:u], noise[u:]
        # the scale multiplies in float32 and rounds once, as a Python-float scale does in diffusers
        difference = text.index_select(0, cond.guided) - uncond
        guided = uncond + (cond.scales * difference.float()).to(noise.dtype)
        return text.index_copy(0, cond.guided, guided)

    # -- 7. decode ----------------------------------------------------------------------------

    def _decode(self, latents: torch.Tensor) -> list[Image.Image]:
        pipe, vae = self._pipe, self._pipe.vae
        # SDXL's VAE overflows in float16 unless it says otherwise: decode it in float32, as diffusers does
        upcast = self._xl and vae.dtype == torch.float16 and vae.config.force_upcast
        if upcast:
            vae.to(dtype=torch.float32)
            latents = latents.to(torch.float32)
        try:
            mean, std = getattr(vae.config, "latents_mean", None), getattr(vae.config, "latents_std", None)
            if self._xl and mean is not None and std is not None:
                mean = torch.tensor(mean).view(1, 4, 1, 1).to(latents.device, latents.dtype)
                std = torch.tensor(std).view(1, 4, 1, 1).to(latents.device, latents.dtype)
                latents = latents * std / vae.config.scaling_factor + mean
            else:
                latents = latents / vae.config.scaling_factor
            image = vae.decode(latents, return_dict=False)[0]
        finally:
            if upcast:
                vae.to(dtype=torch.float16)
        if getattr(pipe, "watermark", None) is not None:
            image = pipe.watermark.apply_watermark(image)
        return pipe.image_processor.postprocess(image, output_type="pil")
