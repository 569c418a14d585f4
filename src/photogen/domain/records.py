"""What the services hand out about stored uploads, jobs and assets: plain, frozen copies of what is stored.

No database is behind them: reading one never queries, changing one is not possible, and they can cross any
thread or process. Blob keys stay inside the services; callers ask a service for the bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from photogen.domain.jobs import JobSpec


@dataclass(frozen=True)
class UploadRecord:
    """An uploaded photo: the original's hash and size, and its preflight report."""

    id: str
    owner: str
    sha256: str
    filename: str
    format: str
    width: int
    height: int
    size_bytes: int
    preflight: dict[str, Any] | None
    created_at: datetime


@dataclass(frozen=True)
class JobRecord:
    """A job as it stood when it was read: what it does (`spec`), where it is, and how it ended."""

    id: str
    owner: str
    upload_id: str
    state: str
    kind: str  # "generate", "sweep" or "upscale"
    spec: JobSpec
    recipe: str | None
    parent_id: str | None
    relation: str | None  # "replay", "vary" or "upscale"
    source_asset_id: str | None
    comparison: dict[str, Any] | None
    attempts: int
    cancel_requested: bool
    callback_url: str | None
    progress_step: int
    progress_total: int
    crop: dict[str, Any] | None
    error_code: str | None
    error_message: str | None  # the traceback is never part of a record
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class AssetRecord:
    """An image a job made (crop, output, grid or upscale), with the full record it carries."""

    id: str
    owner: str
    upload_id: str
    job_id: str | None
    kind: str
    index: int
    seed: int | None
    sha256: str
    width: int
    height: int
    record: dict[str, Any]
    scores: dict[str, Any] | None
    parent_asset_id: str | None
    size_bytes: int | None
    created_at: datetime


@dataclass(frozen=True)
class AssetLineage:
    """Where an asset came from and what was made of it: upload -> crop -> job -> outputs -> upscales."""

    upload: UploadRecord
    job: JobRecord | None
    crop: AssetRecord | None
    outputs: list[AssetRecord]
    ancestors: list[AssetRecord]  # from the asked asset's parent up to the generated output, nearest first
    upscales: list[AssetRecord]  # every upscale below the job's outputs, breadth first
    # the reference photos the job drew on beside its source: {position, upload_id, sha256, role}
    references: list[dict[str, Any]] = field(default_factory=list)

    def graph(self) -> dict[str, Any]:
        """The same as nodes and edges."""
        nodes = [{"id": f"upload:{self.upload.id}", "type": "upload"}]
        edges = []
        if self.job is not None:
            nodes.append({"id": f"job:{self.job.id}", "type": "job", "kind": self.job.kind})
            if self.crop is not None:
                nodes.append({"id": f"asset:{self.crop.id}", "type": "crop"})
                edges += [{"from": f"upload:{self.upload.id}", "to": f"asset:{self.crop.id}", "relation": "cropped"},
                          {"from": f"asset:{self.crop.id}", "to": f"job:{self.job.id}", "relation": "source of"}]
            else:
                edges.append({"from": f"upload:{self.upload.id}", "to": f"job:{self.job.id}", "relation": "source of"})
            for reference in self.references:
                if reference["role"] != "reference":
                    continue
                node = f"reference:{reference['sha256']}"
                nodes.append({"id": node, "type": "reference", "upload_id": reference["upload_id"],
                              "sha256": reference["sha256"], "position": reference["position"]})
                edges.append({"from": node, "to": f"job:{self.job.id}", "relation": "reference of"})
            for asset in self.outputs:
                nodes.append({"id": f"asset:{asset.id}", "type": asset.kind, "index": asset.index})
                edges.append({"from": f"job:{self.job.id}", "to": f"asset:{asset.id}", "relation": "generated"})
        for asset in self.upscales:
            nodes.append({"id": f"asset:{asset.id}", "type": "upscale", "job": asset.job_id})
            edges.append({"from": f"asset:{asset.parent_asset_id}", "to": f"asset:{asset.id}", "relation": "upscaled"})
        return {"nodes": nodes, "edges": edges}
