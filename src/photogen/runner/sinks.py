"""Where a run's results go. AssetSink: blobs, rows and the job's success in one commit (the server).
FolderSink: PNG files with .json sidecars in a folder, named DATE-TIME_JOB_INDEX_sSEED.png (the command line;
photogen.outputs.download_stem, the scheme every download uses)."""

from __future__ import annotations

import hashlib
import io
import logging
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import select

from photogen.domain.errors import PhotogenError
from photogen.domain.jobs import JobState, check_transition
from photogen.intake.derivatives import encode_derivative
from photogen.outputs import PNG_COMPRESS_LEVEL, WrittenOutput, download_stem, encode_png, output_stem, write_output
from photogen.runner.control import JobCanceled
from photogen.runner.records import Output, RunResult
from photogen.runner.replay import compare_outputs
from photogen.runner.timings import Timings
from photogen.services.events import JobEvents, labels_of
from photogen.services.uploads import safe_owner
from photogen.store.blobs import BlobStore
from photogen.store.database import Database
from photogen.store.tables import Asset, Job, Upload, utcnow

log = logging.getLogger("photogen.worker")
Piece = tuple[str, bytes, Asset]  # blob key, file bytes, row
JobEnded = Callable[[Job, int], None]
"""Told of each job that ended here: its row as it ended, and how many images it stored (crops not counted)."""


class AssetStore:
    """The server's side of a job: its assets, and its state from running to an end, each change published."""

    def __init__(self, db: Database, blobs: BlobStore, events: JobEvents, *, signer=None,
                 on_finished: JobEnded | None = None) -> None:
        self.db, self.blobs, self.events = db, blobs, events
        self.signer = signer  # signs outputs and upscales with Content Credentials when configured
        self.on_finished = on_finished or (lambda job, outputs: None)
        self._last_ingredient: tuple[str, tuple[bytes, str, str]] | None = None

    def sink_for(self, job: Job) -> AssetSink:
        return AssetSink(self, job)

    def piece(self, job: Job, output: Output, key: str) -> Piece:
        """One asset to commit: the crop as a plain PNG, anything else with its record embedded (and signed)."""
        if output.kind == "crop":
            record = output.record
            data = output.encoded if output.encoded is not None else crop_png(output.image)
        else:
            record = {**output.record, "job_id": job.id}
            data = output.encoding.result() if output.encoding is not None else encode_png(output.image, record)
        if self.signer is not None and output.kind in ("output", "upscale"):
            upload_bytes, name, image_format = self._ingredient(job.upload_id)
            data = self.signer.sign(data, record, upload_bytes=upload_bytes, upload_name=name,
                                    upload_format=image_format)
        row = Asset(
            id=output.asset_id or uuid.uuid4().hex, owner=job.owner, upload_id=job.upload_id, job_id=job.id, kind=output.kind,
            index=output.index, seed=output.seed, blob_key=key, sha256=hashlib.sha256(data).hexdigest(),
            width=output.image.width, height=output.image.height, record=record, size_bytes=len(data),
            parent_asset_id=output.parent_asset_id, scores=output.scores,
        )
        return key, data, row

    def _ingredient(self, upload_id: str) -> tuple[bytes, str, str]:
        """The upload an output is signed against; kept for the next output of the same upload."""
        if self._last_ingredient is None or self._last_ingredient[0] != upload_id:
            with self.db.session() as session:
                upload = session.get(Upload, upload_id)
            self._last_ingredient = (upload_id, (self.blobs.get(upload.blob_key), upload.filename, upload.format))
        return self._last_ingredient[1]

    def commit(self, job: Job, pieces: list[Piece], *, timings: Timings | None = None, **updates: Any) -> None:
        """Blobs first, then all rows and the job's success in one transaction; on failure the new blobs go.
        The success event carries `timings`, where the job's time went on the worker. A job canceled or deleted
        since its pass stores nothing: JobCanceled, for the caller to end it so.

        Fenced by the claim: a worker whose lease ran out (the job was requeued, perhaps taken by another worker)
        stores nothing. Its blobs cannot touch the new claimer's: each claim writes under keys of its own
        (`claim_prefix`), so the blobs go before one transaction that checks the claim and commits the rows.
        """
        started = time.perf_counter()
        written: list[str] = []
        try:
            for key, data, _row in pieces:
                self.blobs.put(key, data)
                written.append(key)
            with self.db.session(write_lock=True) as session:
                current = session.get(Job, job.id)
                if current is None or current.cancel_requested:  # deleted or canceled since the pass: nothing kept
                    raise JobCanceled()
                if not _still_ours(current, job):
                    raise LeaseLost(job.id)
                check_transition(JobState(current.state), JobState.SUCCEEDED)
                session.add_all([row for _key, _data, row in pieces])
                current.state = JobState.SUCCEEDED.value
                current.finished_at = utcnow()
                for name, value in updates.items():
                    setattr(current, name, value)
                ended = current
        except BaseException:
            for key in written:
                self.blobs.delete(key)
            raise
        outputs = [row.id for _key, _data, row in pieces if row.kind != "crop"]
        extra = {}
        if timings is not None:
            timings.add("store", time.perf_counter() - started)
            extra["timings"] = timings.as_dict()
        self.events.publish(job.id, "state", state=JobState.SUCCEEDED.value, assets=outputs, labels=labels_of(job),
                            **extra)
        self.on_finished(ended, len(outputs))

    def compare_with_parent(self, job: Job, pieces: list[Piece]) -> dict | None:
        """For a replay: each output against the same output of the job it replays."""
        if job.relation != "replay" or not job.parent_id:
            return None
        with self.db.session() as session:
            originals = {a.index: a for a in session.scalars(
                select(Asset).where(Asset.job_id == job.parent_id, Asset.kind == "output"))}
        replayed = [(row.index, Image.open(io.BytesIO(data))) for _key, data, row in pieces if row.kind == "output"]
        return compare_outputs(replayed, {index: (asset.id, self._opener(asset.blob_key))
                                          for index, asset in originals.items()})

    def _opener(self, blob_key: str) -> Callable[[], Image.Image]:
        return lambda: Image.open(io.BytesIO(self.blobs.get(blob_key)))

    def requeue(self, jobs: list[Job]) -> None:
        """Stopped by a shutdown, not by anything the jobs did: back to the queue, the attempt not counted."""
        with self.db.session(write_lock=True) as session:
            for job in jobs:
                current = session.get(Job, job.id)
                if current is not None and current.state == JobState.RUNNING.value:
                    current.state, current.progress_step = JobState.QUEUED.value, 0
                    current.claimed_by, current.lease_until = None, None
                    current.attempts = max(0, current.attempts - 1)
        for job in jobs:
            self.events.publish(job.id, "state", state=JobState.QUEUED.value, labels=labels_of(job))

    def finish(self, job: Job, state: JobState, **fields: Any) -> None:
        with self.db.session(write_lock=True) as session:
            current = session.get(Job, job.id)
            if current is None:  # deleted while it ran: there is no row to update; listeners hear it ended
                self.events.publish(job.id, "state", state=JobState.CANCELED.value, labels=labels_of(job))
                return
            if not _still_ours(current, job):  # requeued after this worker's lease ran out: not ours to end
                log.warning("job %s: lease lost to %s; this worker's result is dropped", job.id, current.claimed_by)
                return
            check_transition(JobState(current.state), state)
            current.state = state.value
            current.finished_at = utcnow()
            for name, value in fields.items():
                setattr(current, name, value)
        self.events.publish(job.id, "state", state=state.value, labels=labels_of(job),
                            **{k: v for k, v in fields.items() if k != "error_detail"})
        self.on_finished(current, 0)

    def fail(self, job: Job, exc: BaseException) -> None:
        if isinstance(exc, PhotogenError):
            code, message = exc.code, exc.message
        else:
            log.error("job %s failed", job.id, exc_info=exc)
            code, message = "generation_failed", f"generation failed ({type(exc).__name__})"
        detail = "".join(traceback.format_exception(exc))
        self.finish(job, JobState.FAILED, error_code=code, error_message=message, error_detail=detail)


def claim_prefix(job: Job) -> str:
    """How the blobs of one claim of a job begin: assets/OWNER/JOB/ATTEMPT_ (then crop.png, 00.png, ...). A worker
    that lost its lease and the worker that claimed the job after it write apart, so neither can overwrite or
    remove the other's files."""
    return f"assets/{safe_owner(job.owner)}/{job.id}/{job.attempts}_"


def crop_png(image: Image.Image) -> bytes:
    """A crop's asset: a plain PNG (no record embedded), the same bytes wherever it is encoded."""
    return encode_derivative(image, "PNG", compress_level=PNG_COMPRESS_LEVEL)


class AssetSink:
    """One job's results as assets under assets/OWNER/JOB/, committed with the job's success."""

    def __init__(self, store: AssetStore, job: Job) -> None:
        self.assets, self.job = store, job

    def store(self, result: RunResult, timings: Timings | None = None) -> None:
        prefix = claim_prefix(self.job)
        timings = timings or Timings()
        with timings.phase("encode"):
            pieces = [self.assets.piece(self.job, output, prefix + _asset_name(output))
                      for output in result.pieces]
        if self.job.kind == "restore":
            chain_steps(pieces)
        updates: dict[str, Any] = {}
        if result.plan is not None:
            updates["crop"] = result.plan.as_dict()
        updates["progress_step"] = result.steps
        if self.job.kind == "generate":
            updates["comparison"] = self.assets.compare_with_parent(self.job, pieces)
        self.assets.commit(self.job, pieces, timings=timings, **updates)


def chain_steps(pieces: list[Piece]) -> None:
    """A restoration's steps in lineage order: each image names the step before it as its parent (the mask's
    preview names the mask), so the output's lineage walks back through faces, tones, repair and the mask."""
    previous: Asset | None = None
    mask: Asset | None = None
    for _key, _data, row in pieces:
        if row.kind == "mask_preview":
            row.parent_asset_id = mask.id if mask is not None else None
            continue
        if previous is not None:
            row.parent_asset_id = previous.id
        if row.kind == "damage_mask":
            mask = row
        previous = row


def _asset_name(output: Output) -> str:
    if output.record.get("kind") == "restore":
        return "restored.png" if output.kind == "output" else f"{output.kind}.png"
    if output.kind == "crop":
        return "crop.png"
    if output.kind == "grid":
        return "grid.png"
    if output.kind == "upscale" and "delivery" in output.record:
        return f"{output.index:02d}_delivery.png"
    if output.kind == "upscale":
        return f"upscale_x{output.record['upscale']['factor']}.png"
    if "sweep" in output.record:
        return f"{output.index:02d}_{output.record['sweep']['field']}.png"
    return f"{output.index:02d}_s{output.seed}.png"


@dataclass(frozen=True)
class FolderResult:
    outputs: list[WrittenOutput]
    grid: Path | None


class FolderSink:
    """Outputs as files in `out_dir`: the PNG with its record, and a sidecar adding `extra` and the scores.
    The crop is not written; a sweep's grid is a plain PNG beside its outputs."""

    def __init__(self, out_dir: Path, job_id: str, created: datetime, extra: dict[str, Any]) -> None:
        self.out_dir, self.job_id, self.created, self.extra = out_dir, job_id, created, extra

    def store(self, result: RunResult) -> FolderResult:
        outputs, grid = [], None
        for output in result.pieces:
            if output.kind == "output":
                stem = output_stem(self.created, self.job_id, output.index, output.seed)
                if "sweep" in output.record:
                    stem += f"_{output.record['sweep']['field']}-{output.record['sweep']['value']}"
                outputs.append(write_output(self.out_dir, stem, output.image, output.record,
                                            {**self.extra, "scores": output.scores}))
            elif output.kind == "grid":
                field = output.record["sweep"]["field"]
                grid = self.out_dir / f"{download_stem(self.created, self.job_id, 0, kind='grid')}_{field}.png"
                output.image.save(grid)
        return FolderResult(outputs, grid)


class LeaseLost(PhotogenError):
    """The job's lease ran out while this worker ran it; it was requeued, and its result is another's to write."""

    code = "lease_lost"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"the lease on job {job_id} ran out while it ran", hint="the job runs again elsewhere")


def _still_ours(current: Job | None, job: Job) -> bool:
    """Whether the row is still running under the claim this worker made (jobs claimed without one always are)."""
    if current is None or job.claimed_by is None:
        return True
    return current.claimed_by == job.claimed_by and current.state == JobState.RUNNING.value
