"""Avatar sets: one identity set, one generation per scenario, N outputs each, and a grid of them with scores.

The workflow advises one scenario per run, drawn from a few references of the person. An avatar set does
that: for each scenario (a recipe, e.g. avatar-corporate-headshot) it submits one generation job that draws
its source and references from the identity set (photogen.services.references), every scenario with the same
seeds. Each output carries its identity scores against the whole set; an output below the identity threshold
(PHOTOGEN_IDENTITY_THRESHOLD), or without a face at all, is marked. With `retry` the scenario runs again with
its next seeds (seed + N, ...), at most `max_retries` times; each retry is a job whose parent is the run it
retries (relation "retry"), so the lineage shows it.

The set moves on when it is read (`get`): once every run has ended, the retries it needs are submitted; once
none is needed, the grid is made: a row per scenario holding the best N outputs over its runs, each labelled
with its seed and identity score (marked outputs say so), stored as a "grid" asset with its record.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from photogen.domain.errors import InvalidRequest, PhotogenError
from photogen.domain.records import AssetRecord, JobRecord
from photogen.services.records import asset_record, job_record
from photogen.services.uploads import NotFound, safe_owner
from photogen.store.database import Database
from photogen.store.tables import Asset, AvatarSet, Job, utcnow

if TYPE_CHECKING:
    from photogen.services.jobs import JobService
    from photogen.services.submission import GenerationSubmissions
    from photogen.store.blobs import BlobStore

MAX_SCENARIOS = 8
MAX_IMAGES = 4  # outputs per scenario
MAX_RETRIES = 3  # runs after the first, per scenario
RUN_KEY_PREFIX = "avatar-set:"  # a set's runs carry the idempotency key avatar-set:SET:SCENARIO:ATTEMPT
TERMINAL = ("succeeded", "failed", "canceled")
LIST_HINT = "list your avatar sets with GET /v1/avatar-sets"


@dataclass(frozen=True)
class AvatarRun:
    scenario: str
    job: JobRecord
    attempt: int  # 0 for the first run, 1, 2, ... for retries
    retry_of: str | None
    outputs: tuple[AssetRecord, ...]


@dataclass(frozen=True)
class AvatarSetView:
    id: str
    identity_id: str
    spec: dict[str, Any]
    runs: tuple[AvatarRun, ...]
    grid: AssetRecord | None
    marked: tuple[str, ...]  # ids of outputs below the identity threshold
    created_at: datetime
    updated_at: datetime

    @property
    def state(self) -> str:
        """running until every run has ended and the grid is made; failed when no run succeeded."""
        if self.grid is not None:
            return "succeeded"
        if all(run.job.state in TERMINAL for run in self.runs) and not any(
                run.job.state == "succeeded" for run in self.runs):
            return "failed"
        return "running"


def is_marked(scores: dict[str, Any] | None) -> bool:
    """Below the identity threshold against the set: a face that does not pass as the person, or no face."""
    identity = (scores or {}).get("identity_set") or {}
    if not identity.get("references"):
        return False  # nothing to compare with (a set of a product, or faces not found in the references)
    return identity.get("best") is None or bool(identity.get("drift"))


class AvatarService:
    def __init__(self, db: Database, blobs: BlobStore, jobs: JobService, submissions: GenerationSubmissions,
                 *, identity_threshold: float) -> None:
        self._db = db
        self._blobs = blobs
        self._jobs = jobs
        self._submissions = submissions
        self.identity_threshold = identity_threshold

    # -- making one -----------------------------------------------------------------------------

    def create(self, owner: str, identity_id: str, scenarios: Sequence[str], *, num_images: int = 2,
               model: str | None = None, seed: int | None = None, details: str = "", retry: bool = False,
               max_retries: int = 1, steps: int | None = None, size: int | None = None) -> AvatarSetView:
        """Submit one generation per scenario from the identity set; refused whole (nothing submitted) when any
        scenario, the set or a control is refused."""
        from photogen.services.generation import resolve_seed

        # 1. what is asked
        scenarios = list(scenarios)
        if not 1 <= len(scenarios) <= MAX_SCENARIOS:
            raise InvalidRequest(f"scenarios: give 1 to {MAX_SCENARIOS}, not {len(scenarios)}",
                                 hint="e.g. avatar-corporate-headshot and avatar-creator-portrait (GET /v1/recipes)")
        if len(set(scenarios)) != len(scenarios):
            raise InvalidRequest("scenarios: a scenario is given twice", hint="give each scenario once")
        if not 1 <= num_images <= MAX_IMAGES:
            raise InvalidRequest(f"num_images: 1 to {MAX_IMAGES} outputs per scenario, not {num_images}",
                                 hint="ask for a few per scenario and make another set for more")
        if not 0 <= max_retries <= MAX_RETRIES:
            raise InvalidRequest(f"max_retries: 0 to {MAX_RETRIES}, not {max_retries}",
                                 hint="each retry runs the scenario again with its next seeds")
        # 2. every scenario's request, checked before anything is submitted
        drawn = self._submissions.draw(owner, identity_id=identity_id, reference_upload_ids=None,
                                       source_given=False, model=model)
        if drawn is None or drawn.source is None:  # an identity set always gives its first usable photo
            raise InvalidRequest("identity_id: the set gave no photo to start from", hint="add a usable photo")
        fields: dict[str, Any] = {"prompt": details, "num_images": num_images}
        if steps is not None:
            fields["steps"] = steps
        if size is not None:
            fields["width"] = fields["height"] = size
        requests = []
        for scenario in scenarios:
            try:
                request = self._submissions.request_drawing(owner, fields, set(fields), model=model, drawn=drawn,
                                                            recipe=scenario)
            except NotFound as exc:
                raise InvalidRequest(f"scenarios: {exc.message}", hint="name a recipe, e.g. avatar-corporate-headshot "
                                     "(GET /v1/recipes lists them)") from None
            requests.append(request)
        seed = resolve_seed(requests[0].model_copy(update={"seed": seed})).seed  # one seed for every scenario
        # 3. the runs and the set's row
        set_id = uuid.uuid4().hex
        spec = {"scenarios": scenarios, "num_images": num_images, "model": requests[0].model, "seed": seed,
                "details": details, "retry": retry, "max_retries": max_retries if retry else 0,
                "threshold": self.identity_threshold}
        runs = []
        for index, (scenario, request) in enumerate(zip(scenarios, requests)):
            request = request.model_copy(update={"seed": seed})
            warnings = self._submissions.warnings_for(request, drawn, drawn.source.id, owner)
            job, _ = self._submissions.submit(owner, request, drawn.source.id, drawn=drawn, warnings=warnings,
                                              idempotency_key=f"{RUN_KEY_PREFIX}{set_id}:{index}:0")
            runs.append({"scenario": scenario, "job_id": job.id, "attempt": 0, "retry_of": None})
        now = utcnow()
        with self._db.session(write_lock=True) as session:
            session.add(AvatarSet(id=set_id, owner=owner, identity_id=drawn.identity_id or identity_id, spec=spec,
                                  runs={"runs": runs}, created_at=now, updated_at=now))
        return self.get(owner, set_id)

    # -- moving it on ------------------------------------------------------------------------------

    def job_ended(self, job: Any) -> None:
        """Told of each job a worker ended: a run of an avatar set moves its set on (retries, then the grid) as
        soon as the set's runs have all ended. Its runs are known by their idempotency keys
        (avatar-set:SET:SCENARIO:ATTEMPT); reading the set does the same, for runs that ended elsewhere."""
        key = getattr(job, "idempotency_key", None) or ""
        if not key.startswith(RUN_KEY_PREFIX):
            return
        try:
            self.get(job.owner, key.split(":")[1])
        except NotFound:  # the set was deleted meanwhile
            return

    # -- reading it (and moving it on) -----------------------------------------------------------

    def list(self, owner: str, limit: int = 100) -> list[AvatarSetView]:
        with self._db.session() as session:
            ids = list(session.scalars(select(AvatarSet.id).where(AvatarSet.owner == owner)
                                       .order_by(AvatarSet.created_at.desc()).limit(limit)))
        return [self.view(owner, set_id) for set_id in ids]

    def get(self, owner: str, set_id: str) -> AvatarSetView:
        """The set as it stands, after submitting the retries it needs or making its grid once its runs ended."""
        view = self.view(owner, set_id)
        if view.grid is not None or not all(run.job.state in TERMINAL for run in view.runs):
            return view
        if self._retry(owner, view):
            return self.view(owner, set_id)
        if any(run.job.state == "succeeded" for run in view.runs):
            self._make_grid(owner, view)
        return self.view(owner, set_id)

    def view(self, owner: str, set_id: str) -> AvatarSetView:
        with self._db.session() as session:
            row = session.get(AvatarSet, set_id)
            if row is None or row.owner != owner:
                raise NotFound(f"no avatar set {set_id}", hint=LIST_HINT)
            entries = list(row.runs.get("runs", []))
            jobs = {job.id: job for job in session.scalars(
                select(Job).where(Job.id.in_([entry["job_id"] for entry in entries])))}
            assets: dict[str, list[Asset]] = {}
            for asset in session.scalars(select(Asset).where(Asset.job_id.in_(list(jobs)), Asset.kind == "output")
                                         .order_by(Asset.index)):
                assets.setdefault(asset.job_id, []).append(asset)
            grid = session.get(Asset, row.grid_asset_id) if row.grid_asset_id else None
            runs = tuple(AvatarRun(entry["scenario"], job_record(jobs[entry["job_id"]]), entry["attempt"],
                                   entry["retry_of"], tuple(asset_record(a) for a in assets.get(entry["job_id"], [])))
                         for entry in entries if entry["job_id"] in jobs)
            marked = tuple(a.id for run in runs for a in run.outputs if is_marked(a.scores))
            return AvatarSetView(row.id, row.identity_id, dict(row.spec), runs,
                                 asset_record(grid) if grid is not None else None, marked, row.created_at,
                                 row.updated_at)

    # -- retries and the grid -------------------------------------------------------------------

    def _retry(self, owner: str, view: AvatarSetView) -> bool:
        """Submit the next run of each scenario whose latest run has marked outputs and retries left."""
        spec = view.spec
        if not spec.get("retry"):
            return False
        latest: dict[str, AvatarRun] = {}
        for run in view.runs:
            latest[run.scenario] = run
        added = []
        for index, scenario in enumerate(spec["scenarios"]):
            run = latest.get(scenario)
            if run is None or run.job.state != "succeeded" or run.attempt >= spec["max_retries"]:
                continue
            if not any(is_marked(output.scores) for output in run.outputs):
                continue
            request = run.job.spec.request
            attempt = run.attempt + 1
            following = request.model_copy(update={"seed": spec["seed"] + attempt * spec["num_images"]})
            job, _ = self._jobs.submit(owner, following, run.job.upload_id, parent_id=run.job.id, relation="retry",
                                       identity_id=view.identity_id, warnings=tuple(run.job.spec.warnings),
                                       idempotency_key=f"{RUN_KEY_PREFIX}{view.id}:{index}:{attempt}")
            added.append({"scenario": scenario, "job_id": job.id, "attempt": attempt, "retry_of": run.job.id})
        if not added:
            return False
        with self._db.session(write_lock=True) as session:
            row = session.get(AvatarSet, view.id, with_for_update=True)
            known = {entry["job_id"] for entry in row.runs.get("runs", [])}
            row.runs = {"runs": [*row.runs.get("runs", []), *(a for a in added if a["job_id"] not in known)]}
            row.updated_at = utcnow()
        return True

    def _make_grid(self, owner: str, view: AvatarSetView) -> None:
        """A row per scenario with its best N outputs over every run, labelled with seed and identity score."""
        from PIL import Image

        from photogen.outputs import encode_png
        from photogen.services.review import grid_image

        n = view.spec["num_images"]
        cells, images, labels = [], [], []
        for scenario in view.spec["scenarios"]:
            outputs = [(run, output) for run in view.runs if run.scenario == scenario for output in run.outputs]
            outputs.sort(key=lambda pair: _identity(pair[1]), reverse=True)
            chosen = outputs[:n]
            for run, output in chosen + [(None, None)] * (n - len(chosen)):
                if output is None:
                    images.append(None)
                    labels.append(f"{scenario}: failed")
                    cells.append({"scenario": scenario, "asset_id": None})
                    continue
                images.append(Image.open(io.BytesIO(self._blobs.get(_blob_key(self._db, output.id)))).convert("RGB"))
                marked = is_marked(output.scores)
                score = ((output.scores or {}).get("identity_set") or {}).get("best")
                shown = "no face" if score is None else f"id {score:.2f}"
                labels.append(f"{scenario.removeprefix('avatar-')} s{output.seed} {shown}{' BELOW' if marked else ''}")
                cells.append({"scenario": scenario, "asset_id": output.id, "job_id": run.job.id, "seed": output.seed,
                              "attempt": run.attempt, "identity": score, "marked": marked,
                              "structure": (output.scores or {}).get("structure")})
        size = next(image.size for image in images if image is not None)
        images = [image or Image.new("RGB", size, "lightgrey") for image in images]
        grid = grid_image(images, labels, columns=n)
        record = {"avatar_set": view.id, "identity_id": view.identity_id, "spec": view.spec, "cells": cells,
                  "threshold": view.spec.get("threshold")}
        data = encode_png(grid, record)
        source_upload = view.runs[0].job.upload_id
        key = f"assets/{safe_owner(owner)}/avatar-{view.id}/grid.png"
        self._blobs.put(key, data)
        asset = Asset(id=uuid.uuid4().hex, owner=owner, upload_id=source_upload, job_id=None, kind="grid", index=0,
                      seed=view.spec["seed"], blob_key=key, sha256=hashlib.sha256(data).hexdigest(),
                      width=grid.width, height=grid.height, record=record, size_bytes=len(data),
                      scores={"cells": cells, "marked": sum(1 for c in cells if c.get("marked"))})
        with self._db.session(write_lock=True) as session:
            row = session.get(AvatarSet, view.id, with_for_update=True)
            if row is None or row.grid_asset_id is not None:  # made meanwhile by another reader or worker
                return
            session.add(asset)
            row.grid_asset_id = asset.id
            row.updated_at = utcnow()


def _identity(output: AssetRecord) -> float:
    best = ((output.scores or {}).get("identity_set") or {}).get("best")
    return -1.0 if best is None else float(best)


def _blob_key(db: Database, asset_id: str) -> str:
    with db.session() as session:
        asset = session.get(Asset, asset_id)
    if asset is None:
        raise PhotogenError("an output of the avatar set was deleted", code="asset_deleted",
                            hint="make the avatar set again")
    return asset.blob_key
