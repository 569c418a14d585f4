"""Lineage: every asset knows where it came from (upload -> crop -> job -> output -> upscale ...)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from photogen.services.uploads import NotFound
from photogen.store.database import Database
from photogen.store.tables import Asset, Job, Upload


@dataclass
class LineageRows:
    upload: Upload
    job: Job | None
    crop: Asset | None
    outputs: list[Asset]
    ancestors: list[Asset]  # from the asked asset's parent up to the generated output, nearest first
    upscales: list[Asset]  # every upscale below the job's outputs, breadth first
    jobs: dict[str, Job] = field(default_factory=dict)  # every job involved, by id

    def graph(self) -> dict[str, Any]:
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
            for asset in self.outputs:
                nodes.append({"id": f"asset:{asset.id}", "type": asset.kind, "index": asset.index})
                edges.append({"from": f"job:{self.job.id}", "to": f"asset:{asset.id}", "relation": "generated"})
        for asset in self.upscales:
            nodes.append({"id": f"asset:{asset.id}", "type": "upscale", "job": asset.job_id})
            edges.append({"from": f"asset:{asset.parent_asset_id}", "to": f"asset:{asset.id}", "relation": "upscaled"})
        return {"nodes": nodes, "edges": edges}


def lineage(db: Database, owner: str, asset_id: str) -> LineageRows:
    with db.session() as session:
        asset = session.get(Asset, asset_id)
        if asset is None or asset.owner != owner:
            raise NotFound(f"no asset {asset_id}", hint="asset ids are listed on their job")
        # 1. up: through upscales to the generated output
        ancestors, root = [], asset
        while root.parent_asset_id:
            parent = session.get(Asset, root.parent_asset_id)
            if parent is None:
                break
            ancestors.append(parent)
            root = parent
        upload = session.get(Upload, asset.upload_id)
        job = session.get(Job, root.job_id) if root.job_id and root.kind != "upscale" else None
        siblings = list(session.scalars(select(Asset).where(Asset.job_id == job.id).order_by(Asset.index))) if job else []
        # 2. down: every upscale of the outputs, at any depth
        upscales, frontier = [], [a.id for a in siblings if a.kind == "output"] or [root.id]
        while frontier:
            found = list(session.scalars(select(Asset).where(Asset.parent_asset_id.in_(frontier), Asset.owner == owner)))
            upscales += found
            frontier = [a.id for a in found]
        jobs = {j.id: j for j in session.scalars(select(Job).where(Job.id.in_({a.job_id for a in [*siblings, *upscales] if a.job_id})))}
    return LineageRows(
        upload=upload, job=job, crop=next((a for a in siblings if a.kind == "crop"), None),
        outputs=[a for a in siblings if a.kind in ("output", "grid")], ancestors=ancestors, upscales=upscales, jobs=jobs,
    )
