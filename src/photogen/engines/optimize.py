"""Speed-ups for a loaded pipeline, per denoiser (a UNet or a transformer), and the UNet call that uses the
compiled one.

`apply_optimizations` changes the pipeline's modules in place (attention kernel, fused QKV,
channels-last, VAE tiling, torch.compile) and returns what it applied, as plain JSON-ready values, for
`ModelInfo.extra["optimizations"]`. A UNet is compiled whole and warmed per batch-size bucket;
`UNetRunner` is how the engine calls it afterwards: padded to a warmed bucket so the compiled code is
reused, and never compiling while a user waits. A transformer (FLUX) has its repeated blocks compiled
(regional compilation), which compiles in seconds and serves every sequence length; it has no
convolutions, so channels-last applies to its VAE only. `measure_memory` reports peak GPU memory per
batch size.

Each switch is "auto" (on where it pays: CUDA), "on" or "off". Anything that cannot apply on
this device, torch or model is skipped with the reason recorded; a compiler failure leaves the
UNet running uncompiled. Attention is left to diffusers, which uses PyTorch's
scaled_dot_product_attention on torch 2; the kernels in use are recorded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import torch

from photogen.intake.crop import native_size

log = logging.getLogger("photogen.engine")
COMPILED_STANCE = "eager_on_recompile"  # a shape that was not warmed runs eagerly instead of compiling


@dataclass(frozen=True)
class EngineOptions:
    """The optimisation settings; built from `photogen.config.Settings` or anything with the same names."""

    compile: str = "auto"
    compile_mode: str = "reduce-overhead"
    compile_batch_sizes: tuple[int, ...] = (1, 2, 4, 8)
    compile_aspect_ratios: tuple[str, ...] = ("1:1",)
    channels_last: str = "auto"
    fuse_qkv: str = "auto"
    vae_tiling: str = "auto"
    max_batch_images: int = 8
    compile_backend: str | Callable[..., Any] = "inductor"  # tests pass a light backend

    @classmethod
    def from_settings(cls, settings_like: Any) -> EngineOptions:
        if settings_like is None:
            return cls()
        if isinstance(settings_like, cls):
            return settings_like
        values = {
            f.name: getattr(settings_like, f.name) for f in fields(cls) if hasattr(settings_like, f.name)
        }
        for name in ("compile_batch_sizes", "compile_aspect_ratios"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)


def wanted(switch: str, device: str) -> bool:
    """Whether a switch applies on `device`: "on", or "auto" on CUDA."""
    if switch not in ("auto", "on", "off"):
        raise ValueError(f"an optimisation switch is 'auto', 'on' or 'off', not {switch!r}")
    return switch == "on" or (switch == "auto" and device.startswith("cuda"))


def denoiser_of(pipeline: Any) -> tuple[str, Any]:
    """The pipeline's denoiser and its kind: ("unet", the UNet) or ("transformer", the transformer)."""
    unet = getattr(pipeline, "unet", None)
    return ("unet", unet) if unet is not None else ("transformer", pipeline.transformer)


def apply_optimizations(pipeline: Any, settings_like: Any, device: str,
                        native_side: int | None = None) -> dict[str, Any]:
    """Apply the configured speed-ups to `pipeline` (already on `device`); return what was applied.

    `native_side` is the model's native square side in pixels (a UNet's pipeline knows it by itself)."""
    options = EngineOptions.from_settings(settings_like)
    kind, denoiser = denoiser_of(pipeline)
    vae = pipeline.vae
    applied: dict[str, Any] = {"device": device, "dtype": str(denoiser.dtype).removeprefix("torch."),
                               "denoiser": kind}

    # 1. fused QKV projections: one matmul instead of three in every attention block
    if wanted(options.fuse_qkv, device):
        try:
            if kind == "unet":
                pipeline.fuse_qkv_projections()
            else:
                denoiser.fuse_qkv_projections()
            applied["fuse_qkv"] = "on"
        except (AttributeError, ValueError, NotImplementedError) as exc:
            applied["fuse_qkv"] = f"skipped: {exc}"
    else:
        applied["fuse_qkv"] = "off"

    # 2. attention: PyTorch's scaled_dot_product_attention, diffusers' default on torch 2
    applied["attention"] = _attention_kernels(denoiser)

    # 3. channels-last: convolutions read NHWC, the layout tensor cores want (a transformer has none)
    if wanted(options.channels_last, device):
        if kind == "unet":
            denoiser.to(memory_format=torch.channels_last)
        vae.to(memory_format=torch.channels_last)
        applied["channels_last"] = "on" if kind == "unet" else "vae only (a transformer has no convolutions)"
    else:
        applied["channels_last"] = "off"

    # 4. VAE tiling for large images
    side = native_side if native_side is not None else unet_native_side(pipeline)
    applied["vae_tiling"] = _set_vae_tiling(pipeline, options.vae_tiling, side)

    # 5. torch.compile: a UNet compiled and warmed now for each (batch bucket, size); a transformer's blocks
    if not wanted(options.compile, device):
        applied["compile"] = "off"
    elif not hasattr(torch.compiler, "set_stance"):
        applied["compile"] = (
            f"skipped: torch {torch.__version__} cannot keep unwarmed shapes from recompiling"
        )
    else:
        try:
            if kind == "unet":
                applied["compile"] = _compile_and_warm(pipeline, options, device)
            else:
                applied["compile"] = _compile_blocks(denoiser, options)
        except Exception as exc:  # a compiler failure must not cost the model: it runs eagerly instead
            for module in denoiser.modules():
                module._compiled_call_impl = None  # what nn.Module.compile set; there is no public undo
            first_line = next(iter(str(exc).splitlines()), "")
            applied["compile"] = f"failed: {type(exc).__name__}: {first_line[:200]}"
            log.warning("torch.compile of the %s failed; running it uncompiled", kind, exc_info=True)
    return applied


def _attention_kernels(denoiser: Any) -> str:
    names = sorted({type(p).__name__ for p in denoiser.attn_processors.values()})
    sdpa = {"AttnProcessor2_0", "FusedAttnProcessor2_0"}
    return "sdpa" if set(names) <= sdpa else ", ".join(names)


def unet_native_side(pipeline: Any) -> int:
    return pipeline.unet.config.sample_size * pipeline.vae_scale_factor


def _set_vae_tiling(pipeline: Any, switch: str, native_side: int) -> str:
    vae = pipeline.vae
    if switch == "off":
        return "off"
    if not hasattr(vae, "tile_sample_min_size"):
        return "skipped: this VAE has no tiling"
    if switch == "auto":
        # tiles of twice the native side: outputs at the native size are never tiled (so never differ)
        side = 2 * native_side
        down = 2 ** (len(vae.config.block_out_channels) - 1)
        vae.tile_sample_min_size, vae.tile_latent_min_size = side, side // down
    elif switch != "on":
        raise ValueError(f"vae_tiling is 'auto', 'on' or 'off', not {switch!r}")
    vae.enable_tiling()
    return f"above {vae.tile_sample_min_size} px"


# ---------------------------------------------------------------------------------------- compile


def unet_batch_sizes(image_counts: Sequence[int], max_images: int) -> list[int]:
    """UNet batch buckets for the given image counts: two rows per image (the CFG pair)."""
    counts = sorted({n for n in image_counts if 1 <= n <= max_images} | {max_images})
    return [2 * n for n in counts]


def _compile_blocks(transformer: Any, options: EngineOptions) -> dict[str, Any]:
    """Regional compilation: each repeated transformer block compiled once, with dynamic sequence lengths
    (text, noise and reference tokens vary by request). Compiles on first use."""
    backend = options.compile_backend
    mode = options.compile_mode if backend == "inductor" else None
    if mode in ("reduce-overhead", "max-autotune"):  # CUDA graphs want static shapes; blocks see many
        mode = "max-autotune-no-cudagraphs" if mode == "max-autotune" else "default"
    transformer.compile_repeated_blocks(mode=mode, backend=backend, fullgraph=True, dynamic=True)
    return {
        "mode": mode,
        "backend": backend if isinstance(backend, str) else getattr(backend, "__name__", "custom"),
        "regional": sorted(transformer._repeated_blocks),
    }


def _compile_and_warm(pipeline: Any, options: EngineOptions, device: str) -> dict[str, Any]:
    unet = pipeline.unet
    batches = unet_batch_sizes(options.compile_batch_sizes, options.max_batch_images)
    native_pixels = unet_native_side(pipeline) ** 2
    sizes = sorted(
        {native_size(_ratio(r), native_pixels, multiple=8)[::-1] for r in options.compile_aspect_ratios}
    )
    latent_sizes = [(h // pipeline.vae_scale_factor, w // pipeline.vae_scale_factor) for h, w in sizes]
    shapes = len(batches) * len(latent_sizes)
    limit_name = "recompile_limit" if hasattr(torch._dynamo.config, "recompile_limit") else "cache_size_limit"
    if getattr(torch._dynamo.config, limit_name) < shapes:  # one compiled entry per warmed shape
        setattr(torch._dynamo.config, limit_name, shapes)
    backend = options.compile_backend
    mode = options.compile_mode if backend == "inductor" else None  # modes are inductor's
    unet.compile(mode=mode, backend=backend, fullgraph=True, dynamic=False)
    runner = UNetRunner(unet, {"unet_batch_sizes": batches, "mode": mode})
    started = time.perf_counter()
    with torch.inference_mode():
        for rows in batches:
            for height, width in latent_sizes:
                inputs = _dummy_unet_inputs(pipeline, rows, height, width, device)
                for _ in range(3):  # compile, then (reduce-overhead) record and replay the CUDA graph
                    runner(**inputs, stance="default")
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return {
        "mode": mode,
        "backend": backend if isinstance(backend, str) else getattr(backend, "__name__", "custom"),
        "unet_batch_sizes": batches,
        "latent_sizes": [list(s) for s in latent_sizes],
        "warmup_s": round(time.perf_counter() - started, 2),
    }


def _ratio(text: str) -> tuple[float, float]:
    from photogen.domain.params import parse_aspect_ratio

    return parse_aspect_ratio(text)


def _dummy_unet_inputs(pipeline: Any, rows: int, height: int, width: int, device: str) -> dict[str, Any]:
    """Inputs shaped, typed and laid out exactly as the engine's denoising loop passes them."""
    unet = pipeline.unet
    dtype = unet.dtype
    tokens = getattr(getattr(pipeline, "tokenizer", None), "model_max_length", 77)
    inputs: dict[str, Any] = {
        "sample": torch.randn(rows, unet.config.in_channels, height, width, device=device, dtype=dtype),
        "timestep": torch.tensor(500.0, device=device),
        "encoder_hidden_states": torch.randn(
            rows, tokens, unet.config.cross_attention_dim, device=device, dtype=dtype
        ),
        "added_cond_kwargs": None,
        "timestep_cond": None,
    }
    if unet.config.addition_embed_type == "text_time":  # SDXL: pooled text and size/crop conditioning
        ids = 5 if getattr(pipeline.config, "requires_aesthetics_score", False) else 6
        pooled = unet.add_embedding.linear_1.in_features - ids * unet.config.addition_time_embed_dim
        inputs["added_cond_kwargs"] = {
            "text_embeds": torch.randn(rows, pooled, device=device, dtype=dtype),
            "time_ids": torch.ones(rows, ids, device=device, dtype=dtype),
        }
    if unet.config.time_cond_proj_dim is not None:
        inputs["timestep_cond"] = torch.randn(
            rows, unet.config.time_cond_proj_dim, device=device, dtype=dtype
        )
    return inputs


class UNetRunner:
    """Calls the UNet; when it was compiled, pads the batch to a warmed bucket and never recompiles.

    `compiled` is the "compile" entry `apply_optimizations` returned (a dict), or anything else
    when the UNet runs eagerly.
    """

    def __init__(self, unet: Any, compiled: Any = None) -> None:
        self.unet = unet
        self.compiled = isinstance(compiled, dict)
        self.buckets = sorted(compiled["unet_batch_sizes"]) if self.compiled else []
        self.cuda_graphs = self.compiled and compiled.get("mode") in ("reduce-overhead", "max-autotune")

    def __call__(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        added_cond_kwargs: dict[str, torch.Tensor] | None = None,
        timestep_cond: torch.Tensor | None = None,
        *,
        stance: str = COMPILED_STANCE,
    ) -> torch.Tensor:
        """The noise prediction for `sample` (rows, C, h, w) at `timestep` (a 0-d float32 tensor)."""
        if not self.compiled:
            return self.unet(
                sample,
                timestep,
                encoder_hidden_states=encoder_hidden_states,
                timestep_cond=timestep_cond,
                added_cond_kwargs=added_cond_kwargs,
                return_dict=False,
            )[0]
        rows = sample.shape[0]
        bucket = next((b for b in self.buckets if b >= rows), rows)
        pad = _padder(bucket - rows)
        added = None if added_cond_kwargs is None else {k: pad(v) for k, v in added_cond_kwargs.items()}
        with torch.compiler.set_stance(stance):
            if self.cuda_graphs:
                torch.compiler.cudagraph_mark_step_begin()
            out = self.unet(
                pad(sample),
                timestep,
                encoder_hidden_states=pad(encoder_hidden_states),
                timestep_cond=None if timestep_cond is None else pad(timestep_cond),
                added_cond_kwargs=added,
                return_dict=False,
            )[0]
        out = out[:rows]
        return out.clone() if self.cuda_graphs else out  # a CUDA graph's next replay overwrites its output


def _padder(extra: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Pads a batch with `extra` copies of its first row (real values, so no kernel meets odd numbers),
    in the contiguous layout the compiled graphs were warmed with."""

    def pad(tensor: torch.Tensor) -> torch.Tensor:
        if extra:
            tensor = torch.cat([tensor, tensor[:1].expand(extra, *tensor.shape[1:])])
        return tensor.contiguous()

    return pad


# ---------------------------------------------------------------------------------------- memory


def measure_memory(generator: Any, batch_sizes: Sequence[int]) -> dict[int, dict[str, float]] | None:
    """Peak GPU memory of one generate call per batch size (images), to choose the max batch.

    Returns {images: {"peak_gib", "above_weights_gib"}}, or None off CUDA. Each call runs one
    denoising step at the model's native size with guidance on, which peaks like a full run.
    """
    if not str(generator.device).startswith("cuda"):
        return None
    from PIL import Image

    from photogen.domain.params import GenerationRequest
    from photogen.engines.base import PreparedRequest

    width, height = generator.native_size((1.0, 1.0))
    image = Image.new("RGB", (width, height), (128, 128, 128))
    torch.cuda.synchronize()
    resident = torch.cuda.memory_allocated()
    report: dict[int, dict[str, float]] = {}
    for images in batch_sizes:
        strength = 0.5 if generator.capabilities.image_strength else None
        batch = [
            PreparedRequest(GenerationRequest(prompt="a photo", seed=k, steps=2, image_strength=strength), image)
            for k in range(images)
        ]
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        generator.generate(batch)
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
        report[images] = {
            "peak_gib": round(peak / 2**30, 3),
            "above_weights_gib": round((peak - resident) / 2**30, 3),
        }
    return report
