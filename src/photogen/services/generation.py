"""The command line's generation: a source photo from disk through the shared runner into a folder."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from photogen.config import Settings
from photogen.domain.errors import SourceNotFound
from photogen.domain.params import MAX_SEED, GenerationRequest
from photogen.engines.base import StepCallback
from photogen.engines.cache import ModelCache
from photogen.engines.interrupt import Deadline
from photogen.intake.crop import CropPlan
from photogen.intake.decode import DecodedImage, decode_image
from photogen.outputs import WrittenOutput
from photogen.runner.context import RunContext, RunLimits
from photogen.runner.generate import prepare, result_for, run_batch
from photogen.runner.records import software_versions
from photogen.runner.sinks import FolderSink
from photogen.runner.sweep import run_sweep

__all__ = ["GenerationResult", "GenerationService", "Source", "SweepResult", "resolve_seed", "software_versions"]


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


def resolve_seed(request: GenerationRequest) -> GenerationRequest:
    if request.seed is not None:
        return request
    return request.model_copy(update={"seed": secrets.randbelow(MAX_SEED + 1)})


class GenerationService:
    def __init__(self, settings: Settings, models: ModelCache) -> None:
        self._settings = settings
        self._models = models

    def context(self) -> RunContext:
        """The command line runs under the server's limits, through the server's runner."""
        limits = RunLimits(max_pixels=self._settings.max_pixels, max_decoded_bytes=self._settings.max_decoded_bytes,
                           job_timeout_s=self._settings.job_timeout_s)
        return RunContext(self._models, limits)

    def generate(
        self,
        source: Source,
        request: GenerationRequest,
        out_dir: Path,
        on_step: StepCallback | None = None,
        references: Sequence[Source] = (),
    ) -> GenerationResult:
        """`references` are the reference photos request.references names (by sha256), in its order."""
        # 1. fix the seed so the run can be repeated
        request = resolve_seed(request)
        job_id = uuid.uuid4().hex
        created = datetime.now(timezone.utc)

        # 2. the model, loaded once per process; the crop for the final use, at the model's native size
        started = time.perf_counter()
        ctx = self.context()
        ctx.models.get(request.model)
        loaded = time.perf_counter()
        task = prepare(ctx, source.decoded, request, source.describe(),
                       references=[reference.decoded for reference in references])
        task.identity_threshold = self._settings.identity_threshold
        if references:  # each photo drawn on, by SHA-256, as the server's outputs record them
            task.provenance = {"references": [
                {"position": position, "upload_id": None, "sha256": photo.decoded.sha256,
                 "role": "source" if position == 0 else "reference"}
                for position, photo in enumerate([source, *references])]}

        # 3. generate, stopped mid-step past the time limit
        images = run_batch([task], on_step, Deadline(self._settings.job_timeout_s))[0]
        generated = time.perf_counter()

        # 4. write each image with its record; times go in the sidecar only
        timings = {"model_load_s": round(loaded - started, 4), "generate_s": round(generated - loaded, 4)}
        result = result_for(task, images)
        sidecar = self._sidecar(job_id, created, source) | {"timings": timings}
        if references:
            sidecar["reference_paths"] = [str(reference.path) if reference.path else None for reference in references]
        sink = FolderSink(out_dir, job_id, created, sidecar)
        written = sink.store(result)
        timings["write_s"] = round(time.perf_counter() - generated, 4)
        scores = [output.scores for output in result.outputs]
        return GenerationResult(job_id, request, task.plan, written.outputs, timings, scores)

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
        base = resolve_seed(base)
        job_id, created = uuid.uuid4().hex, datetime.now(timezone.utc)
        deadline = Deadline(self._settings.job_timeout_s)  # one limit for the whole sweep
        result = run_sweep(self.context(), source.decoded, base, field, values, source.describe(),
                           on_step=on_step, interrupt=deadline)
        written = FolderSink(out_dir, job_id, created, self._sidecar(job_id, created, source)).store(result)
        return SweepResult(job_id, base, result.plan, written.outputs, [o.scores for o in result.outputs], written.grid)

    @staticmethod
    def _sidecar(job_id: str, created: datetime, source: Source) -> dict[str, Any]:
        return {"job_id": job_id, "created_at": created.isoformat(),
                "source_path": str(source.path) if source.path else None}
