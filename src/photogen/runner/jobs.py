"""The server's jobs: what the embedded worker (or any queue) hands over once it has claimed them."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PIL import Image
from sqlalchemy import select

from photogen.domain.errors import PhotogenError
from photogen.domain.jobs import GenerationSpec, JobState, RestoreSpec, SweepSpec, UpscaleSpec
from photogen.engines.preview import data_url, latent_image, previews
from photogen.intake.decode import DecodedImage
from photogen.restoration.damage import open_mask
from photogen.runner.context import RunContext
from photogen.runner.control import JobCanceled, JobControl, WorkerStopping
from photogen.runner.crops import CropCache
from photogen.runner.delivery import deliver
from photogen.runner.generate import GenerationTask, batches, prepare, result_for, run_batch
from photogen.runner.restore import run_restore
from photogen.runner.sinks import AssetStore, JobEnded
from photogen.runner.sweep import run_sweep
from photogen.runner.timings import PassClock, Timings
from photogen.runner.upscale import run_upscale
from photogen.store.tables import Asset, Job, Upload

log = logging.getLogger("photogen.worker")


PREVIEWS_PER_PASS = 4  # previews over one pass: a hint every quarter, cheap beside a step


def model_of(spec: Any) -> str | None:
    """The model a job's run loads, if any."""
    if isinstance(spec, SweepSpec):
        return spec.base.model
    if isinstance(spec, UpscaleSpec):
        return spec.model if spec.method in ("auto", "tiled_refine") else None
    if isinstance(spec, RestoreSpec):
        return spec.model
    request = getattr(spec, "request", None)
    return getattr(request, "model", None)


class JobRunner:
    def __init__(self, ctx: RunContext, *, stopping: Callable[[], bool],
                 on_finished: JobEnded | None = None) -> None:
        self.ctx = ctx
        self.assets = AssetStore(ctx.db, ctx.blobs, ctx.events, signer=ctx.signer, on_finished=on_finished)
        self.control = JobControl(ctx.db, ctx.events, job_timeout_s=ctx.limits.job_timeout_s, stopping=stopping)
        self._prefetch_pool: ThreadPoolExecutor | None = None
        self._encoder_pool: ThreadPoolExecutor | None = None
        self._prefetched: dict[str, Future[GenerationTask]] = {}
        self.crops = CropCache()

    def prefetch(self, job: Job) -> None:
        """Start making a queued generation ready (its source read, decoded and cropped, the crop's face found,
        the crop's PNG encoded) while the batch window holds it: work the lone job would otherwise do after the
        window. The claim that follows uses it if this worker claims the job; a failure here is left for the
        claimed run to meet."""
        if not isinstance(job.spec, GenerationSpec) or job.id in self._prefetched:
            return
        if self._prefetch_pool is None:
            self._prefetch_pool = ThreadPoolExecutor(1, thread_name_prefix="photogen-prefetch")
        for stale in list(self._prefetched)[:-3]:  # heads another worker took: at most a few are kept
            self._prefetched.pop(stale).cancel()
        self._prefetched[job.id] = self._prefetch_pool.submit(self.prepare, job, job.spec)

    def close(self) -> None:
        """Stop making jobs ready ahead of their claim (at the worker's stop)."""
        self._prefetched.clear()
        if self._prefetch_pool is not None:
            self._prefetch_pool.shutdown(wait=False, cancel_futures=True)
            self._prefetch_pool = None
        if self._encoder_pool is not None:
            self._encoder_pool.shutdown(wait=False, cancel_futures=True)
            self._encoder_pool = None

    def _encoder(self) -> ThreadPoolExecutor:
        """The thread that encodes a finished pass's outputs while this one scores them (both mostly in C code
        that lets go of the interpreter lock)."""
        if self._encoder_pool is None:
            self._encoder_pool = ThreadPoolExecutor(1, thread_name_prefix="photogen-encode")
        return self._encoder_pool

    def tell_loading(self, jobs: list[Job]) -> None:
        """A progress event with phase "loading_model" for each claimed job whose model is not loaded yet, so that
        clients can say so rather than show a bar stuck at nought (its first step says the load is over)."""
        for job in jobs:
            model = model_of(job.spec)
            try:
                loading = model is not None and not self.ctx.models.is_loaded(model)
            except Exception:  # noqa: BLE001 (an unknown model fails the job where it is loaded)
                loading = False
            if loading:
                self.ctx.events.publish(job.id, "progress", step=0, total=job.progress_total or 0,
                                        phase="loading_model", model=model)

    def _ready(self, job: Job, spec: GenerationSpec) -> GenerationTask:
        """The job made ready: by its prefetch when there was one (waited for if still going), else now."""
        future = self._prefetched.pop(job.id, None)
        if future is not None and not future.cancelled():
            try:
                task = future.result()
            except Exception:  # noqa: BLE001 (made ready again below, where the error ends the job properly)
                log.debug("prefetch of job %s failed; preparing it again", job.id, exc_info=True)
            else:
                task.ref = job  # the claimed row, under this worker's lease
                return task
        return self.prepare(job, spec)

    def run(self, jobs: list[Job]) -> None:
        """Claimed jobs to an end: sweeps and upscales one by one, compatible generations one batch each."""
        self.tell_loading(jobs)
        # 1. each job made ready, or run when it is a kind of its own
        tasks: list[GenerationTask] = []
        for job in jobs:
            try:
                spec = job.spec
                if isinstance(spec, SweepSpec):
                    self.run_sweep(job, spec)
                elif isinstance(spec, UpscaleSpec):
                    self.run_upscale(job, spec)
                elif isinstance(spec, RestoreSpec):
                    self.run_restore(job, spec)
                else:
                    tasks.append(self._ready(job, spec))
            except WorkerStopping:
                self.assets.requeue([job])
            except JobCanceled:
                self.assets.finish(job, JobState.CANCELED)
            except Exception as exc:  # noqa: BLE001 (one bad job must not sink the batch)
                self.assets.fail(job, exc)
        # 2. generations that can share a pass run together
        for group in batches(tasks):
            self.run_group(group)

    # -- generation ----------------------------------------------------------------------------

    def prepare(self, job: Job, spec: GenerationSpec) -> GenerationTask:
        """The job made ready to run: its source decoded, its crop cut, with the crop's face, structure half and
        PNG (each kept for the next jobs on the same photo and plan: runner.crops)."""
        timings = Timings()
        with timings.phase("source"):
            decoded, source = self.source_of(job, keep=True)
            references = self.references_of(job, spec.request.references)
        with timings.phase("prepare"):
            task = prepare(self.ctx, decoded, spec.request, source, ref=job, references=references,
                           crop=lambda image, plan: self.crops.crop(image, plan).image)
            ready = self.crops.crop(decoded, task.plan)
        task.source_face, task.structure, task.crop_png = ready.face, ready.structure, ready.png
        task.timings = timings
        self.drawn_on(task, job, spec)
        return task

    def drawn_on(self, task: GenerationTask, job: Job, spec: GenerationSpec) -> None:
        """What a job with references records and is scored against: the photos it drew on (by SHA-256) and,
        for an identity set, the faces of the set's usable references as stored when they joined."""
        from photogen.runner.references import identity_embeddings, provenance_of

        task.identity_threshold = self.ctx.limits.identity_threshold
        task.provenance = provenance_of(spec)
        if spec.identity_id:
            task.set_embeddings = identity_embeddings(self.ctx.db, job.owner, spec.identity_id)

    def run_group(self, group: list[GenerationTask]) -> None:
        # 1. one pass for the group, steered by its jobs' cancels, the shutdown and the time limit
        jobs = [task.ref for task in group]
        interrupt = self.control.interrupt_for(jobs)
        steps = group[0].model.capabilities.denoising_steps(group[0].item.request)
        progress = self.control.progress_for(jobs, steps, interrupt)
        clock = PassClock()  # the model's time, apart from the time its callbacks take
        try:
            with clock.measure(), previews(clock.timed(self.preview_sink(group))):
                images = run_batch(group, clock.timed(progress), clock.timed(interrupt))
        except JobCanceled:
            for job in jobs:
                self.assets.finish(job, JobState.CANCELED)
            return
        except WorkerStopping:
            self.assets.requeue(jobs)
            return
        except Exception as exc:  # noqa: BLE001 (whatever stopped the pass ends each of its jobs)
            for job in jobs:
                self.assets.fail(job, exc)
            return
        # 2. each job's results, committed with its success unless it was canceled meanwhile
        for task, job_images in zip(group, images):
            job = task.ref
            clock.record(task.timings, len(group))
            if self.control.cancel_requested(job):  # as heard; the commit reads the row's flag
                self.assets.finish(job, JobState.CANCELED)
                continue
            try:
                with task.timings.phase("result"):
                    result = result_for(task, job_images, encoder=self._encoder())
                if job.spec.delivery == "preset":
                    with task.timings.phase("delivery"):
                        deliver(result, task.item.request.crop_preset, task.model, interrupt,
                                prompt=task.item.request.prompt)
                self.assets.sink_for(job).store(result, task.timings)
            except JobCanceled:
                self.assets.finish(job, JobState.CANCELED)
            except Exception as exc:  # noqa: BLE001 (a failed store ends this job only)
                self.assets.fail(job, exc)

    def preview_sink(self, group: list[GenerationTask]):
        """Publishes a small preview of each job's first image every PREVIEWS_PER_PASS-th of the pass but the last
        (a "preview" event with a JPEG data URL), decoded from the latents by the fixed linear map."""
        rows, row = [], 0
        for task in group:
            rows.append((task.ref.id, row))
            row += task.item.request.num_images

        def sink(done: int, total: int, latents) -> None:
            every = max(1, total // PREVIEWS_PER_PASS)
            if done % every or done >= total:  # the last step's picture is the output itself, moments later
                return
            for job_id, first in rows:
                image = latent_image(latents[first])
                if image is not None:
                    self.ctx.events.publish(job_id, "preview", step=done, total=total, image=data_url(image))

        return sink

    # -- sweep and upscale ---------------------------------------------------------------------

    def run_sweep(self, job: Job, spec: SweepSpec) -> None:
        base = spec.base.model_copy(update={"num_images": 1})
        decoded, source = self.source_of(job)
        interrupt = self.control.interrupt_for([job])
        progress = self.control.progress_for([job], 0, interrupt, images=1)
        references = self.references_of(job, base.references)
        result = run_sweep(self.ctx, decoded, base, spec.field, spec.values, source,
                           on_step=progress, interrupt=interrupt, references=references)
        self.assets.sink_for(job).store(result)

    def run_upscale(self, job: Job, spec: UpscaleSpec) -> None:
        with self.ctx.db.session() as session:
            parent = session.get(Asset, job.source_asset_id)
        if parent is None:
            raise PhotogenError("the asset to upscale was deleted", code="asset_deleted")
        image = Image.open(io.BytesIO(self.ctx.blobs.get(parent.blob_key))).convert("RGB")
        interrupt = self.control.interrupt_for([job])
        model = self.ctx.models.get(name) if (name := model_of(spec)) else None
        progress = self.control.progress_for([job], 1, interrupt, images=1)
        result = run_upscale(image, factor=spec.factor, method=spec.method, model=model,
                             interrupt=interrupt, seed=spec.seed, prompt=spec.prompt,
                             print_spec=spec.print, on_progress=progress,
                             lineage={"source_asset_id": parent.id, "source_asset_sha256": parent.sha256},
                             parent_asset_id=parent.id, seed_of_parent=parent.seed)
        self.assets.sink_for(job).store(result)

    def run_restore(self, job: Job, spec: RestoreSpec) -> None:
        decoded, source = self.source_of(job)
        mask = None
        if spec.mask_upload_id is not None:
            with self.ctx.db.session() as session:
                upload = session.get(Upload, spec.mask_upload_id)
            if upload is None:
                raise PhotogenError("the mask's upload was deleted", code="upload_deleted",
                                    hint="send the mask again with the restoration")
            data = self.ctx.blobs.get(upload.blob_key)
            self.ctx.decode(data)  # within the limits it was accepted under
            mask = open_mask(data)
            source["mask_upload_id"] = upload.id
            source["mask_sha256"] = upload.sha256
        interrupt = self.control.interrupt_for([job])
        model = self.ctx.models.get(spec.model) if spec.model else None
        progress = self.control.progress_for([job], 5, interrupt, images=1)
        result = run_restore(decoded.image, mask=mask, model=model, colourise_scan=spec.colourise,
                             seed=spec.seed, steps=spec.steps, interrupt=interrupt, on_progress=progress,
                             lineage={"source": source}, check_work=self.ctx.check_pixel_steps)
        self.assets.sink_for(job).store(result)

    # -- sources -------------------------------------------------------------------------------

    def source_of(self, job: Job, *, keep: bool = False) -> tuple[DecodedImage, dict[str, Any]]:
        """The job's upload, decoded under the bound it was accepted under, and how records name it. With `keep`,
        the decoded photo is one of the worker's recent sources (runner.crops), for a caller that only reads it."""
        with self.ctx.db.session() as session:
            upload = session.get(Upload, job.upload_id)
        if upload is None:
            raise PhotogenError("the job's upload was deleted", code="upload_deleted")
        source = {"name": upload.filename, "sha256": upload.sha256, "format": upload.format,
                  "size": [upload.width, upload.height], "upload_id": upload.id}
        def decode() -> DecodedImage:
            return self.ctx.decode(self.ctx.blobs.get(upload.blob_key))

        return (self.crops.decoded(upload.sha256, decode) if keep else decode()), source

    def references_of(self, job: Job, digests: tuple[str, ...]) -> list[DecodedImage]:
        """The reference images a request names by SHA-256, decoded from the job owner's uploads, in order."""
        if not digests:
            return []
        with self.ctx.db.session() as session:
            uploads = session.scalars(select(Upload).where(Upload.owner == job.owner, Upload.sha256.in_(digests)))
            blob_keys = {upload.sha256: upload.blob_key for upload in uploads}
        missing = [digest for digest in digests if digest not in blob_keys]
        if missing:
            raise PhotogenError(f"the reference image {missing[0][:12]}... was deleted", code="reference_not_found")
        return [self.ctx.decode(self.ctx.blobs.get(blob_keys[digest])) for digest in digests]
