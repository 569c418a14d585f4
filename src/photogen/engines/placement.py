"""Where a loaded pipeline's weights live and how they run: precision, device and the engine optimisations.

Every family places its pipeline through `place_pipeline`, so the settings mean the same for each:
the device and precision, then the optimisations of photogen.engines.optimize on its denoiser (UNet or
transformer). What was applied is returned for `ModelInfo.extra["optimizations"]`.
"""

from __future__ import annotations

from typing import Any


def torch_dtype(dtype: str):
    import torch

    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]


def place_pipeline(pipeline: Any, device: str, options: Any = None, *, native_side: int | None = None) -> dict[str, Any]:
    """Move `pipeline` to `device` and apply the configured optimisations; returns what was applied.

    `native_side` is the model's native square side in pixels (UNet pipelines know it by themselves)."""
    from photogen.engines.optimize import apply_optimizations

    pipeline.set_progress_bar_config(disable=True)
    pipeline.to(device)
    return apply_optimizations(pipeline, options, device, native_side)
