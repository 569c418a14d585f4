"""Delivery at the size a crop preset promises: each output smaller than the preset's size goes through the
upscale pass at x2 (the model refines the enlarged image tile by tile where it can), then is cut to the preset's
exact ratio and resized to it (Lanczos). x2 keeps the pass to a few seconds of the model; larger prints are for an
explicit x4 upscale and its print advice. The result is an "upscale" asset of its own that names the output it came from, so lineage shows
the step; the output itself stays as the model made it."""

from __future__ import annotations

import uuid
from typing import Any

from PIL import Image

from photogen.domain.errors import PhotogenError
from photogen.engines.base import Generator, InterruptCheck
from photogen.engines.interrupt import InterruptibleGenerator
from photogen.intake.crop import CropPlan, centred_box
from photogen.intake.presets import get_preset
from photogen.runner.records import Output, RunResult
from photogen.runner.upscale import upscale_record
from photogen.services.review import upscale

DELIVERY_MODES = ("preset", "native")


def delivery_size(crop_preset: str | None) -> tuple[int, int] | None:
    """The pixel size a preset is delivered at; None for no preset, a custom ratio or an unknown name."""
    if not crop_preset:
        return None
    try:
        size = get_preset(crop_preset).size
    except PhotogenError:
        return None
    return (int(size[0]), int(size[1])) if size else None


DELIVERY_FACTOR = 2


def needed_factor(size: tuple[int, int], target: tuple[int, int]) -> int | None:
    """The upscale factor of the delivery pass for `size`; None when it is at `target` already."""
    need = max(target[0] / size[0], target[1] / size[1])
    return None if need <= 1.0 + 1e-9 else DELIVERY_FACTOR


def fit_to(image: Image.Image, target: tuple[int, int]) -> Image.Image:
    """`image` cut around its centre to `target`'s ratio, then resized to `target` exactly (the crop's own plan)."""
    return CropPlan(centred_box(image.size, target), target).apply(image)


def deliver(result: RunResult, crop_preset: str | None, model: Generator | None, interrupt: InterruptCheck | None,
            *, prompt: str = "") -> int:
    """Add a delivery upscale for each output of `result` smaller than the preset's size; returns how many."""
    target = delivery_size(crop_preset)
    if target is None:
        return 0
    generator = InterruptibleGenerator(model, interrupt) if model is not None and interrupt is not None else model
    added: list[Output] = []
    for output in result.outputs:
        factor = needed_factor(output.image.size, target)
        if factor is None:
            continue
        output.asset_id = output.asset_id or uuid.uuid4().hex
        enlarged, how = upscale(output.image, factor=factor, method="auto", generator=generator,
                                seed=output.seed or 0, prompt=prompt)
        delivered = fit_to(enlarged, target)
        lineage: dict[str, Any] = {
            "source_asset_id": output.asset_id,
            "delivery": {"preset": crop_preset, "size": list(target), "native_size": list(output.image.size),
                         "upscaled_size": list(enlarged.size)},
        }
        record = upscale_record(output.image, delivered, how, factor, None, lineage)
        added.append(Output("upscale", output.index, output.seed, delivered, record, parent_asset_id=output.asset_id))
    result.pieces.extend(added)
    return len(added)
