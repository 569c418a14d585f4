"""Generation: crop a source for its final use, run compatible requests as one batch, record each output."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from photogen.domain.errors import InvalidRequest
from photogen.domain.params import GenerationRequest
from photogen.engines.base import Generator, InterruptCheck, PreparedRequest, StepCallback, batch_key
from photogen.engines.controls import check_controls
from photogen.intake.crop import CropPlan, centred_box, crop_decoded, native_size, plan_crop
from photogen.intake.decode import DecodedImage
from photogen.observability.metrics import RUN_METRICS
from photogen.outputs import encode_png, pixel_sha256
from photogen.runner.context import RunContext
from photogen.runner.records import Output, RunResult, crop_output, output_record
from photogen.runner.timings import Timings
from photogen.services.review import NO_FACE, score_images


@dataclass
class GenerationTask:
    """One request made ready to run: its crop at the model's size, the plan that cut it, and its source."""

    item: PreparedRequest
    plan: CropPlan
    model: Generator
    source: dict[str, Any]
    ref: Any = None  # whatever the caller tracks the task by (the server's job row)
    timings: Timings = field(default_factory=Timings)  # where its time went on the worker
    source_face: Any = None  # the crop's face for the identity scores, when found ahead of the pass
    structure: Any = None  # the crop's half of the structure score (a StructureSource), when made ahead of the pass
    crop_png: bytes | None = None  # the crop's PNG as its asset stores it, when encoded ahead of the pass
    # The faces outputs are scored against for identity (an identity set's, else the source's and references'
    # when the request has references); None: only the review scores against the crop.
    set_embeddings: list[Any] | None = None
    identity_threshold: float = 0.363
    provenance: dict[str, Any] = field(default_factory=dict)  # the photos drawn on, as every output records them


def plan_for(decoded: DecodedImage, request: GenerationRequest, model: Generator) -> CropPlan:
    """Where to cut the source: the given box, else the preset's framing, else centred at the ratio."""
    explicit = (request.width, request.height) if request.width and request.height else None
    native = model.info.native_pixels
    multiple = model.capabilities.size_multiple
    if request.crop_box is not None:
        left, top, right, bottom = request.crop_box
        if right > decoded.size[0] or bottom > decoded.size[1]:
            raise InvalidRequest(
                f"crop box {list(request.crop_box)} reaches outside the {decoded.size[0]}x{decoded.size[1]} photo",
                hint="give the box in the upright photo's pixels",
            )
        output = explicit or native_size((right - left, bottom - top), native, multiple)
        inner = centred_box((right - left, bottom - top), output)
        return CropPlan((left + inner[0], top + inner[1], left + inner[2], top + inner[3]), output)
    if request.crop_preset is not None:
        from photogen.intake.pipeline import frame_photo

        return frame_photo(decoded, request.crop_preset, native_pixels=native, explicit_size=explicit,
                           multiple=multiple).plan
    return plan_crop(decoded.size, request.ratio, native, explicit, multiple)


def fit_references(request: GenerationRequest, references: Sequence[DecodedImage],
                   model: Generator) -> tuple[Image.Image, ...]:
    """The reference images `request.references` names (`references`, decoded, in its order) as the model reads
    them: each about its native pixel count at its own ratio, sides on the model's size grid, centre-cropped
    where the rounding changed the ratio."""
    if [reference.sha256 for reference in references] != list(request.references):
        raise InvalidRequest(
            f"the request names {len(request.references)} reference image(s); the images given do not match them",
            hint="pass one decoded image per entry of request.references, in its order",
        )
    caps = model.capabilities
    fitted = []
    for reference in references:
        size = native_size(reference.size, caps.native_pixels, caps.size_multiple)
        fitted.append(crop_decoded(reference, plan_crop(reference.size, None, caps.native_pixels, size)))
    return tuple(fitted)


Cut = Callable[[DecodedImage, CropPlan], Image.Image]


def prepare_request(
    decoded: DecodedImage, request: GenerationRequest, model: Generator,
    references: Sequence[DecodedImage] = (), *, crop: Cut = crop_decoded,
) -> tuple[PreparedRequest, CropPlan]:
    """Crop the upright source for the final use and size it for the model (by `crop`: a worker passes one that
    keeps its recent crops); size each reference for it."""
    plan = plan_for(decoded, request, model)
    return PreparedRequest(request, crop(decoded, plan), fit_references(request, references, model)), plan


def prepare(ctx: RunContext, decoded: DecodedImage, request: GenerationRequest, source: dict[str, Any],
            *, ref: Any = None, references: Sequence[DecodedImage] = (), crop: Cut = crop_decoded) -> GenerationTask:
    # 1. the model, loaded once per process; the request must use only controls it has
    model = ctx.models.get(request.model)
    check_controls(request, model.capabilities, request.model)
    # 2. crop for the final use, at the model's native size; the references at theirs
    item, plan = prepare_request(decoded, request, model, references, crop=crop)
    # 3. the work limit on the planned size
    ctx.check_work([request], item.size)
    return GenerationTask(item, plan, model, source, ref)


def batches(tasks: list[GenerationTask]) -> list[list[GenerationTask]]:
    """Tasks that can share one pass of the model, grouped in the order they came."""
    groups: dict[tuple[Any, ...], list[GenerationTask]] = {}
    for task in tasks:
        groups.setdefault(batch_key(task.item), []).append(task)
    return list(groups.values())


def run_batch(tasks: list[GenerationTask], on_step: StepCallback | None,
              interrupt: InterruptCheck | None) -> list[list[Image.Image]]:
    """One pass of the model over compatible tasks; per task, its images."""
    RUN_METRICS.observe_batch(len(tasks))
    on_step = RUN_METRICS.timed_steps(tasks[0].model.info.id, on_step)
    return tasks[0].model.generate([task.item for task in tasks], on_step, interrupt)


def source_structure(crop: Image.Image) -> Any:
    """The crop's half of the structure score: like its face, ready before the outputs are."""
    from photogen.scoring.structure import StructureSource

    return StructureSource(np.asarray(crop.convert("RGB")))


def source_face(crop: Image.Image) -> Any:
    """The crop's face, embedded for the identity scores (None when it shows none): it does not depend on the
    outputs, so a worker may find it before or during the pass."""
    from photogen.scoring.identity import default_identity_scorer

    return default_identity_scorer().embed(np.asarray(crop.convert("RGB"))) or NO_FACE


def result_for(task: GenerationTask, images: list[Image.Image], *, encoder: Executor | None = None) -> RunResult:
    """The crop and each output with its record and review scores. With an `encoder`, each output's PNG (with
    its record and the job's id, as the server's sink stores it) is encoded there while the scores are made."""
    request = task.item.request
    base = {**output_record(request, task.plan, task.model, task.source), **task.provenance}
    crop = crop_output(task.item.image, task.plan, task.source)
    crop.encoded = task.crop_png
    pieces = [crop]
    records = [{**base, "index": index, "seed": seed, "pixel_sha256": pixel_sha256(image)}
               for index, (seed, image) in enumerate(zip(request.seeds(), images))]
    encodings = [encoder.submit(encode_png, image, {**record, "job_id": task.ref.id}) if encoder else None
                 for image, record in zip(images, records)]
    scores = score_images(task.item.image, images, source_face=task.source_face, structure=task.structure)
    embeddings = task.set_embeddings
    if embeddings is None and request.references:
        from photogen.scoring.references import reference_embeddings

        embeddings = reference_embeddings([np.asarray(im.convert("RGB")) for im in (task.item.image, *task.item.references)])
    if embeddings is not None or request.angle is not None:
        from photogen.scoring.references import face_yaw, reference_scores

        source_yaw = face_yaw(np.asarray(task.item.image.convert("RGB"))) if request.angle is not None else None
        for image, score in zip(images, scores):
            score.update(reference_scores(np.asarray(image.convert("RGB")), embeddings, angle=request.angle,
                                          source_yaw=source_yaw, threshold=task.identity_threshold,
                                          identity_drift=bool(score.get("identity_drift"))))
    for index, (seed, image, score, record, encoding) in enumerate(
            zip(request.seeds(), images, scores, records, encodings)):
        pieces.append(Output("output", index, seed, image, record, scores=score, encoding=encoding))
    return RunResult(pieces, steps=task.model.capabilities.denoising_steps(request), plan=task.plan)
