"""What a run hands to its sink: each image with the record it carries, and the records themselves."""

from __future__ import annotations

import functools
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from typing import Any

from PIL import Image

from photogen import __version__
from photogen.domain.params import GenerationRequest
from photogen.engines.base import Generator
from photogen.engines.schedulers import resolved_name, sampler_label
from photogen.intake.crop import CropPlan
from photogen.outputs import SCHEMA


@dataclass
class Output:
    """One image of a run. `kind` is crop, output, grid or upscale; the sink names and stores it."""

    kind: str
    index: int
    seed: int | None
    image: Image.Image
    record: dict[str, Any]
    scores: dict[str, Any] | None = None
    parent_asset_id: str | None = None
    asset_id: str | None = None  # set ahead when another piece of the same result names it as its parent
    encoded: bytes | None = None  # a crop's PNG bytes, when they were encoded ahead of the pass (same bytes)
    encoding: Future[bytes] | None = None  # an output's PNG as the sink would encode it, under way elsewhere


@dataclass
class RunResult:
    """Everything a finished run produced, in order: the crop first (when there is one), then the outputs."""

    pieces: list[Output]
    steps: int  # the progress count the run ended at
    plan: CropPlan | None = None  # where the source was cut, for the job's row
    extra: dict[str, Any] = field(default_factory=dict)  # times and the like: sidecars only, never embedded

    @property
    def outputs(self) -> list[Output]:
        return [piece for piece in self.pieces if piece.kind == "output"]


def output_record(
    request: GenerationRequest, plan: CropPlan, model: Generator, source: dict[str, Any]
) -> dict[str, Any]:
    """What every output of a request records, before its own index, seed and pixel hash."""
    scheduler_config = getattr(model, "scheduler_config", {"_class_name": request.scheduler})
    scheduler = resolved_name(request.scheduler, scheduler_config)
    info = asdict(model.info)
    extra = info.pop("extra", None) or {}
    weights = extra.get("optimizations", {}).get("memory", {}).get("quantize", "off")
    if weights != "off":  # 8-bit weights change the pixels: the record says so (full precision says nothing)
        info["weights"] = weights
    if "ip_adapter" in extra:  # the adapter that read the references: its file name, kind and licence
        info["ip_adapter"] = extra["ip_adapter"]
    return {
        "schema": SCHEMA,
        "request": request.model_dump(mode="json"),
        "image_strength": request.image_strength,
        "denoising_strength": request.denoising_strength,
        "denoising_steps": request.denoising_steps,
        "scheduler": scheduler,
        "sampler": sampler_label(scheduler),
        "size": list(plan.output_size),
        "crop": plan.as_dict(),
        "model": info,
        "source": source,
        "software": software_versions(),
    }


def crop_output(image: Image.Image, plan: CropPlan, source: dict[str, Any]) -> Output:
    """The crop a run worked from, kept beside its outputs (the server stores it; a folder does not)."""
    return Output("crop", 0, None, image, {"crop": plan.as_dict(), "source": source})


@functools.cache
def software_versions() -> dict[str, str]:
    import diffusers
    import torch
    import transformers

    return {
        "photogen": __version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
    }
