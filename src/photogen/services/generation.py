"""Generate from a source photo: decode, crop for the final use, run the model, write explained outputs."""

from __future__ import annotations

import functools
import secrets
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from PIL import Image

from photogen import __version__
from photogen.config import Settings
from photogen.domain.errors import InvalidRequest, SourceNotFound
from photogen.domain.params import MAX_SEED, GenerationRequest
from photogen.engines.base import Generator, PreparedRequest, StepCallback, batch_key
from photogen.engines.cache import ModelCache
from photogen.engines.interrupt import Deadline
from photogen.engines.schedulers import resolved_name, sampler_label
from photogen.intake.crop import CropPlan, centred_box, crop_decoded, native_size, plan_crop
from photogen.intake.decode import DecodedImage, decode_image
from photogen.outputs import SCHEMA, WrittenOutput, output_stem, pixel_sha256, write_output
from photogen.services.review import grid_image, label_for, score_images, sweep_requests


@dataclass(frozen=True)
class Source:
    """A source photo as read from disk: its bytes stay untouched, its decoded pixels are upright RGB."""

    name: str
    path: Path | None
    decoded: DecodedImage

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sha256": self.decoded.sha256,
            "format": self.decoded.format,
            "size": list(self.decoded.size),
        }

    @classmethod
    def from_path(cls, path: Path, settings: Settings) -> Source:
        if not path.is_file():
            raise SourceNotFound(f"no file at {path}", hint="check the path of the source photo")
        return cls(path.name, path.resolve(), decode_image(path.read_bytes(), max_pixels=settings.max_pixels))


@dataclass(frozen=True)
class GenerationResult:
    job_id: str
    request: GenerationRequest  # with its seed resolved
    crop: CropPlan
    outputs: list[WrittenOutput]
    timings: dict[str, float]
    scores: list[dict[str, Any]]  # per output: identity and structure similarity to the crop


@dataclass(frozen=True)
class SweepResult:
    job_id: str
    base: GenerationRequest
    crop: CropPlan
    outputs: list[WrittenOutput]
    scores: list[dict[str, Any]]
    grid: Path


def output_record(
    request: GenerationRequest, plan: CropPlan, model: Generator, source: dict[str, Any]
) -> dict[str, Any]:
    """What every output of a request records, before its own index, seed and pixel hash."""
    scheduler_config = getattr(model, "scheduler_config", {"_class_name": request.scheduler})
    scheduler = resolved_name(request.scheduler, scheduler_config)
    info = asdict(model.info)
    info.pop("extra", None)
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


def plan_for(decoded: DecodedImage, request: GenerationRequest, model: Generator) -> CropPlan:
    """Where to cut the source: the given box, else the preset's framing, else centred at the ratio."""
    explicit = (request.width, request.height) if request.width and request.height else None
    native = model.info.native_pixels
    if request.crop_box is not None:
        left, top, right, bottom = request.crop_box
        if right > decoded.size[0] or bottom > decoded.size[1]:
            raise InvalidRequest(
                f"crop box {list(request.crop_box)} reaches outside the {decoded.size[0]}x{decoded.size[1]} photo",
                hint="give the box in the upright photo's pixels",
            )
        output = explicit or native_size((right - left, bottom - top), native)
        inner = centred_box((right - left, bottom - top), output)
        return CropPlan((left + inner[0], top + inner[1], left + inner[2], top + inner[3]), output)
    if request.crop_preset is not None:
        from photogen.intake.pipeline import frame_photo

        return frame_photo(decoded, request.crop_preset, native_pixels=native, explicit_size=explicit).plan
    return plan_crop(decoded.size, request.ratio, native, explicit)


def prepare_request(
    decoded: DecodedImage, request: GenerationRequest, model: Generator
) -> tuple[PreparedRequest, CropPlan]:
    """Crop the upright source for the final use and size it for the model."""
    plan = plan_for(decoded, request, model)
    return PreparedRequest(request, crop_decoded(decoded, plan)), plan


def resolve_seed(request: GenerationRequest) -> GenerationRequest:
    if request.seed is not None:
        return request
    return request.model_copy(update={"seed": secrets.randbelow(MAX_SEED + 1)})


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


class GenerationService:
    def __init__(self, settings: Settings, models: ModelCache) -> None:
        self._settings = settings
        self._models = models

    def generate(
        self,
        source: Source,
        request: GenerationRequest,
        out_dir: Path,
        on_step: StepCallback | None = None,
    ) -> GenerationResult:
        # 1. fix the seed so the run can be repeated
        request = resolve_seed(request)
        job_id = uuid.uuid4().hex
        created = datetime.now(timezone.utc)

        # 2. the model, loaded once per process
        started = time.perf_counter()
        model = self._models.get(request.model)
        loaded = time.perf_counter()

        # 3. crop for the final use, at the model's native size
        prepared, plan = prepare_request(source.decoded, request, model)

        # 4. generate, stopped mid-step past the time limit
        images = model.generate([prepared], on_step, Deadline(self._settings.job_timeout_s))[0]
        generated = time.perf_counter()

        # 5. write each image with its record; times go in the sidecar only
        timings = {"model_load_s": round(loaded - started, 4), "generate_s": round(generated - loaded, 4)}
        base = output_record(request, plan, model, source.describe())
        extra = {
            "job_id": job_id,
            "created_at": created.isoformat(),
            "source_path": str(source.path) if source.path else None,
            "timings": timings,
        }
        scores = score_images(prepared.image, images)
        outputs = []
        for index, (seed, image, score) in enumerate(zip(request.seeds(), images, scores)):
            record = {**base, "index": index, "seed": seed, "pixel_sha256": pixel_sha256(image)}
            stem = output_stem(created, job_id, index, seed)
            outputs.append(write_output(out_dir, stem, image, record, {**extra, "scores": score}))
        timings["write_s"] = round(time.perf_counter() - generated, 4)
        return GenerationResult(job_id, request, plan, outputs, timings, scores)

    def sweep(
        self,
        source: Source,
        base: GenerationRequest,
        field: str,
        values: list,
        out_dir: Path,
        on_step: StepCallback | None = None,
    ) -> SweepResult:
        """One output per value of `field`, the rest fixed (same crop, same seed), and a labelled grid."""
        # 1. the variants, from one seed
        base = resolve_seed(base)
        variants = sweep_requests(base, field, values)
        job_id, created = uuid.uuid4().hex, datetime.now(timezone.utc)
        model = self._models.get(base.model)
        # 2. one crop for all; variants that can share a pass run together
        first, plan = prepare_request(source.decoded, base, model)
        items = [PreparedRequest(variant, first.image) for variant in variants]
        groups: dict[tuple, list[int]] = {}
        for index, item in enumerate(items):
            groups.setdefault(batch_key(item), []).append(index)
        images: dict[int, Image.Image] = {}
        deadline = Deadline(self._settings.job_timeout_s)  # one limit for the whole sweep
        done_before = 0
        total = sum(v.denoising_steps for v in variants)
        for indices in groups.values():
            step = (lambda d, _t, offset=done_before: on_step(offset + d, total)) if on_step else None
            for i, result in zip(indices, model.generate([items[i] for i in indices], step, deadline)):
                images[i] = result[0]
            done_before += sum(variants[i].denoising_steps for i in indices)
        # 3. outputs with their value and scores, then the grid
        ordered = [images[i] for i in range(len(variants))]
        scores = score_images(first.image, ordered)
        extra = {"job_id": job_id, "created_at": created.isoformat(),
                 "source_path": str(source.path) if source.path else None}
        outputs, labels = [], []
        for index, (variant, image, score) in enumerate(zip(variants, ordered, scores)):
            value = getattr(variant, field)
            record = {**output_record(variant, plan, model, source.describe()), "index": index, "seed": variant.seed,
                      "pixel_sha256": pixel_sha256(image), "sweep": {"field": field, "value": value}}
            stem = f"{output_stem(created, job_id, index, variant.seed)}_{field}-{value}"
            outputs.append(write_output(out_dir, stem, image, record, {**extra, "scores": score}))
            identity = f", id {score['identity']:.2f}" if score.get("identity") is not None else ""
            labels.append(label_for(field, value) + identity)
        grid_path = out_dir / f"{created:%Y%m%d-%H%M%S}_{job_id[:8]}_grid_{field}.png"
        grid_image(ordered, labels).save(grid_path)
        return SweepResult(job_id, base, plan, outputs, scores, grid_path)


