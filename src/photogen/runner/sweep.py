"""A sweep: one output per value of one control, all from the same crop and seed, plus a labelled grid."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PIL import Image

from photogen.domain.params import GenerationRequest
from photogen.engines.base import InterruptCheck, PreparedRequest, StepCallback
from photogen.engines.controls import check_controls
from photogen.intake.crop import crop_decoded
from photogen.intake.decode import DecodedImage
from photogen.outputs import SCHEMA, pixel_sha256
from photogen.runner.context import RunContext
from photogen.runner.generate import GenerationTask, batches, fit_references, plan_for, run_batch
from photogen.runner.records import Output, RunResult, crop_output, output_record, software_versions
from photogen.services.review import grid_image, label_for, score_images, sweep_requests


def run_sweep(ctx: RunContext, decoded: DecodedImage, base: GenerationRequest, field: str, values: Sequence[Any],
              source: dict[str, Any], *, on_step: StepCallback | None = None,
              interrupt: InterruptCheck | None = None, references: Sequence[DecodedImage] = ()) -> RunResult:
    """`on_step(done, total)` counts steps over the whole sweep; `interrupt` is its one check (one time limit).
    `references` are the decoded images base.references names, in its order."""
    # 1. the variants, from one seed, each using only controls the model has
    variants = sweep_requests(base, field, values)
    model = ctx.models.get(base.model)
    for variant in variants:
        check_controls(variant, model.capabilities, base.model)
    # 2. one crop (and one set of references) for all
    plan = plan_for(decoded, base, model)
    ctx.check_work(variants, plan.output_size)
    crop = crop_decoded(decoded, plan)
    fitted = fit_references(base, references, model)
    # 3. generate, batching the variants that can share a pass; progress counts on across passes
    tasks = [GenerationTask(PreparedRequest(variant, crop, fitted), plan, model, source, ref=i)
             for i, variant in enumerate(variants)]
    steps_of = model.capabilities.denoising_steps
    total = sum(steps_of(variant) for variant in variants)
    images: dict[int, Image.Image] = {}
    done_before = 0
    for group in batches(tasks):
        step = (lambda d, _t, offset=done_before: on_step(offset + d, total)) if on_step else None
        for task, result in zip(group, run_batch(group, step, interrupt)):
            images[task.ref] = result[0]
        done_before += sum(steps_of(task.item.request) for task in group)
    # 4. outputs with their value and scores
    ordered = [images[i] for i in range(len(variants))]
    scores = score_images(crop, ordered)
    if field == "angle":  # each turn measured beside the one asked for
        import numpy as np

        from photogen.scoring.references import face_yaw, reference_scores

        source_yaw = face_yaw(np.asarray(crop.convert("RGB")))
        for variant, image, score in zip(variants, ordered, scores):
            if variant.angle is not None:
                score.update(reference_scores(np.asarray(image.convert("RGB")), None, angle=variant.angle,
                                              source_yaw=source_yaw, identity_drift=bool(score.get("identity_drift"))))
    pieces, labels = [crop_output(crop, plan, source)], []
    for index, (variant, image, score) in enumerate(zip(variants, ordered, scores)):
        value = getattr(variant, field)
        record = {**output_record(variant, plan, model, source), "index": index, "seed": variant.seed,
                  "pixel_sha256": pixel_sha256(image), "sweep": {"field": field, "value": value}}
        pieces.append(Output("output", index, variant.seed, image, record, scores=score))
        identity = f", id {score['identity']:.2f}" if score.get("identity") is not None else ""
        measured = (score.get("angle") or {}).get("measured_yaw")
        turned = f", yaw {measured:+.0f}" if measured is not None else ""
        labels.append(label_for(field, value) + identity + turned)
    # 5. the labelled grid
    grid_record = {"schema": SCHEMA, "kind": "sweep_grid", "sweep": {"field": field, "values": list(values)},
                   "labels": labels, "request": base.model_dump(mode="json"), "software": software_versions()}
    pieces.append(Output("grid", 0, None, grid_image(ordered, labels), grid_record))
    return RunResult(pieces, steps=total, plan=plan)

