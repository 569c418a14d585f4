"""Where a loaded pipeline's weights live and how they run: precision, device, memory options and the engine
optimisations.

Every family places its pipeline through `place_pipeline`, so the settings mean the same for each:
1. quantised weights (PHOTOGEN_QUANTIZE): the denoiser's and text encoders' linear layers in 8 bits through
   torchao, int8 weight-only anywhere, fp8 weight-only on GPUs of compute capability 8.9 and newer;
2. the device, or model CPU offload (PHOTOGEN_CPU_OFFLOAD) on CUDA, where each component moves to the GPU
   only while it runs;
3. the optimisations of photogen.engines.optimize on the denoiser (UNet or transformer).
What was applied, or why it was skipped, is returned for `ModelInfo.extra["optimizations"]`.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("photogen.engine")
QUANTIZED_COMPONENTS = ("unet", "transformer", "text_encoder", "text_encoder_2")
FP8_CAPABILITY = (8, 9)  # Ada and Hopper have fp8 tensor cores


def torch_dtype(dtype: str):
    import torch

    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]


def place_pipeline(pipeline: Any, device: str, options: Any = None, *, native_side: int | None = None) -> dict[str, Any]:
    """Quantise, move (or offload) and optimise `pipeline` for `device`; returns what was applied.

    `native_side` is the model's native square side in pixels (UNet pipelines know it by themselves)."""
    from dataclasses import replace

    from photogen.engines.optimize import EngineOptions, apply_optimizations, wanted

    pipeline.set_progress_bar_config(disable=True)
    offload = bool(getattr(options, "cpu_offload", False))
    memory: dict[str, Any] = {}
    # 1. quantised weights made where they will run: on the device, or on the CPU for offloaded components
    if offload and device.startswith("cuda"):
        memory["quantize"] = quantize_weights(pipeline, getattr(options, "quantize", "off"), device)
        pipeline.enable_model_cpu_offload(device=device)
        memory["cpu_offload"] = "on"
    else:
        pipeline.to(device)
        memory["quantize"] = quantize_weights(pipeline, getattr(options, "quantize", "off"), device)
        memory["cpu_offload"] = "skipped: CPU offload needs a CUDA device" if offload else "off"
    # 2. the optimisations; nothing is compiled while components move between devices, and quantised
    #    projections are not fused (their 8-bit tensors do not concatenate)
    engine = EngineOptions.from_settings(options)
    skipped = {}
    if memory["cpu_offload"] == "on" and wanted(engine.compile, device):
        engine, skipped["compile"] = replace(engine, compile="off"), "skipped: not with CPU offload"
    if "weight-only" in memory["quantize"] and wanted(engine.fuse_qkv, device):
        engine, skipped["fuse_qkv"] = replace(engine, fuse_qkv="off"), "skipped: the weights are quantised"
    applied = apply_optimizations(pipeline, engine, device, native_side)
    return {**applied, **skipped, "memory": memory}


def quantize_weights(pipeline: Any, mode: str, device: str) -> str:
    """8-bit linear weights in the denoiser and text encoders (torchao); what was done, or why not."""
    if mode == "off":
        return "off"
    import torch

    if mode == "fp8":
        if not device.startswith("cuda") or not torch.cuda.is_available():
            return "skipped: fp8 weights need a CUDA GPU of compute capability 8.9 or newer"
        capability = torch.cuda.get_device_capability(torch.device(device))
        if capability < FP8_CAPABILITY:
            return f"skipped: this GPU (compute capability {capability[0]}.{capability[1]}) has no fp8 support"
    try:
        from torchao.quantization import Float8WeightOnlyConfig, Int8WeightOnlyConfig, quantize_
    except ImportError:
        return "skipped: torchao is not installed (pip install 'photogen[quant]')"
    config = Float8WeightOnlyConfig() if mode == "fp8" else Int8WeightOnlyConfig()
    done = []
    for name in QUANTIZED_COMPONENTS:
        module = getattr(pipeline, name, None)
        if module is None:
            continue
        try:
            quantize_(module, config)
        except (RuntimeError, NotImplementedError, ValueError, TypeError) as exc:
            log.warning("%s weights of %s could not be quantised", mode, name, exc_info=True)
            return f"failed on {name}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        done.append(name)
    return f"{mode} weight-only: {', '.join(done)}"
