"""Jobs other than a plain generation: a sweep of one control, and an upscale pass."""

from __future__ import annotations

import time
from typing import Any

from photogen.domain.params import GenerationRequest
from photogen.engines.base import InterruptCheck, PreparedRequest, batch_key
from photogen.engines.interrupt import InterruptibleGenerator
from photogen.intake.crop import crop_decoded
from photogen.intake.decode import decode_image
from photogen.outputs import SCHEMA, pixel_sha256
from photogen.services.generation import output_record, plan_for, software_versions
from photogen.services.review import (
    grid_image,
    label_for,
    print_advice,
    score_images,
    sweep_requests,
    upscale,
)
from photogen.services.uploads import safe_owner
from photogen.store.tables import Asset, Job, Upload


class _Progress:
    """Progress over several passes as one count; after each step or tile it runs the job's interrupt check,
    which raises the worker's JobCanceled or JobTimedOut when the job must stop."""

    def __init__(self, worker, job: Job, total: int, interrupt: InterruptCheck) -> None:
        self.worker, self.job, self.total, self.offset, self.last_write = worker, job, total, 0, 0.0
        self.interrupt = interrupt

    def __call__(self, done: int, _steps: int | None = None) -> None:
        from photogen.queue.embedded import PROGRESS_WRITE_EVERY_S

        step = self.offset + done
        self.worker._events.publish(self.job.id, "progress", step=step, total=self.total, images=1)
        now = time.monotonic()
        if now - self.last_write >= PROGRESS_WRITE_EVERY_S or step == self.total:
            self.last_write = now
            self.worker._write_progress([self.job], step)
        self.interrupt()


def run_sweep(worker, job: Job) -> None:
    """One output per value of the swept control, all from the same crop and seed, plus a labelled grid."""
    from photogen.domain.jobs import JobState
    from photogen.queue.embedded import JobCanceled

    # 1. the variants
    sweep = job.request["sweep"]
    base = GenerationRequest.model_validate({k: v for k, v in job.request.items() if k != "sweep"} | {"num_images": 1})
    variants = sweep_requests(base, sweep["field"], sweep["values"])
    # 2. one crop for all
    with worker._db.session() as session:
        upload = session.get(Upload, job.upload_id)
    if upload is None:
        from photogen.domain.errors import PhotogenError

        raise PhotogenError("the job's upload was deleted", code="upload_deleted")
    model = worker._models.get(base.model)
    decoded = decode_image(worker._blobs.get(upload.blob_key), max_pixels=worker._max_pixels, max_bytes=2**40,
                           max_decoded_bytes=worker._max_decoded_bytes)
    plan = plan_for(decoded, base, model)
    worker.check_work(variants, plan.output_size)
    crop = crop_decoded(decoded, plan)
    source = {"name": upload.filename, "sha256": upload.sha256, "format": upload.format,
              "size": [upload.width, upload.height], "upload_id": upload.id}
    # 3. generate, batching the variants that can share a pass
    items = [PreparedRequest(variant, crop) for variant in variants]
    groups: dict[tuple[Any, ...], list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault(batch_key(item), []).append(index)
    interrupt = worker.interrupt_for([job])
    progress = _Progress(worker, job, sum(v.denoising_steps for v in variants), interrupt)
    images: dict[int, Any] = {}
    try:
        for indices in groups.values():
            results = model.generate([items[i] for i in indices], progress, interrupt)
            for i, result in zip(indices, results):
                images[i] = result[0]
            progress.offset += sum(variants[i].denoising_steps for i in indices)
    except JobCanceled:
        worker._finish(job, JobState.CANCELED)
        return
    # 4. outputs with their value, scores and the grid
    ordered = [images[i] for i in range(len(variants))]
    scores = score_images(crop, ordered)
    folder = f"assets/{safe_owner(job.owner)}/{job.id}"
    pieces = [worker.piece(job, "crop", 0, None, f"{folder}/crop.png", crop, {"crop": plan.as_dict(), "source": source}, plain=True)]
    labels = []
    for index, (variant, image, score) in enumerate(zip(variants, ordered, scores)):
        value = getattr(variant, sweep["field"])
        record = {**output_record(variant, plan, model, source), "index": index, "seed": variant.seed,
                  "pixel_sha256": pixel_sha256(image), "job_id": job.id, "sweep": {"field": sweep["field"], "value": value}}
        piece = worker.piece(job, "output", index, variant.seed, f"{folder}/{index:02d}_{sweep['field']}.png", image, record)
        piece[2].scores = score
        pieces.append(piece)
        identity = f", id {score['identity']:.2f}" if score.get("identity") is not None else ""
        labels.append(label_for(sweep["field"], value) + identity)
    grid = grid_image(ordered, labels)
    grid_record = {"schema": SCHEMA, "kind": "sweep_grid", "sweep": sweep, "labels": labels, "job_id": job.id,
                   "request": base.model_dump(mode="json"), "software": software_versions()}
    pieces.append(worker.piece(job, "grid", 0, None, f"{folder}/grid.png", grid, grid_record))
    worker.commit(job, pieces, crop=plan.as_dict(), progress_step=progress.total)


def run_upscale(worker, job: Job) -> None:
    """A separate, recorded pass that enlarges one asset; the new asset names its parent."""
    from photogen.domain.jobs import JobState
    from photogen.queue.embedded import JobCanceled

    spec = job.request
    with worker._db.session() as session:
        parent = session.get(Asset, job.source_asset_id)
    if parent is None:
        from photogen.domain.errors import PhotogenError

        raise PhotogenError("the asset to upscale was deleted", code="asset_deleted")
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(worker._blobs.get(parent.blob_key))).convert("RGB")
    interrupt = worker.interrupt_for([job])
    model = worker._models.get(spec["model"]) if spec["method"] in ("auto", "tiled_refine") and spec.get("model") else None
    # the tiles pass the job's check to the model, so a cancel or the deadline stops a tile mid-way
    generator = InterruptibleGenerator(model, interrupt) if model is not None else None
    progress = _Progress(worker, job, 1, interrupt)

    def on_progress(done: int, total: int) -> None:
        progress.total = total
        progress(done)

    try:
        result, how = upscale(image, factor=spec["factor"], method=spec["method"], generator=generator,
                              seed=spec.get("seed", 0), prompt=spec.get("prompt", ""), on_progress=on_progress)
    except JobCanceled:
        worker._finish(job, JobState.CANCELED)
        return
    record = {
        "schema": SCHEMA,
        "kind": "upscale",
        "upscale": how,
        "source_asset_id": parent.id,
        "source_asset_sha256": parent.sha256,
        "size": list(result.size),
        "print": print_advice(image.size, spec.get("print"), spec["factor"]),
        "pixel_sha256": pixel_sha256(result),
        "job_id": job.id,
        "software": software_versions(),
    }
    key = f"assets/{safe_owner(job.owner)}/{job.id}/upscale_x{spec['factor']}.png"
    piece = worker.piece(job, "upscale", 0, parent.seed, key, result, record, parent_asset_id=parent.id)
    worker.commit(job, [piece], progress_step=progress.total)


RUNNERS = {"sweep": run_sweep, "upscale": run_upscale}
