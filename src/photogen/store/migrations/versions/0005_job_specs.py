"""jobs.request holds a versioned JobSpec (generate | sweep | upscale | replay | vary)

Before: a flat generation request; a sweep's base with `num_images` and `sweep: {field, values}`; an upscale's
options with `num_images`. After: {"version": 1, "kind": ..., ...} as photogen.domain.jobs.JobSpec dumps it.
The reshaping is written out here, not imported, so this migration keeps meaning what it meant when it was
written. Rows are rewritten in batches of BATCH, keyed by id, on SQLite and PostgreSQL alike.

Revision ID: 0005
Revises: 0004
"""
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

BATCH = 500
UPSCALE_OPTIONS = ("factor", "method", "model", "prompt", "seed", "print")

jobs = sa.table(
    "jobs",
    sa.column("id", sa.String),
    sa.column("kind", sa.String),
    sa.column("relation", sa.String),
    sa.column("parent_id", sa.String),
    sa.column("source_asset_id", sa.String),
    sa.column("request", sa.JSON),
)


def upgrade() -> None:
    _rewrite(_to_spec)


def downgrade() -> None:
    _rewrite(_to_flat)


def _rewrite(convert: Callable[[sa.Connection, Any], dict | None]) -> None:
    connection = op.get_bind()
    last = ""
    while True:
        rows = connection.execute(
            sa.select(jobs).where(jobs.c.id > last).order_by(jobs.c.id).limit(BATCH)).mappings().all()
        if not rows:
            return
        changed = [{"b_id": row["id"], "b_request": new} for row in rows
                   if (new := convert(connection, row)) is not None]
        if changed:
            connection.execute(
                jobs.update().where(jobs.c.id == sa.bindparam("b_id")).values(request=sa.bindparam("b_request")),
                changed)
        last = rows[-1]["id"]


def _to_spec(connection: sa.Connection, row: Any) -> dict | None:
    old = row["request"]
    if not isinstance(old, dict) or "version" in old:
        return None  # already a spec
    if row["kind"] == "sweep":
        sweep = old.get("sweep") or {}
        base = {k: v for k, v in old.items() if k != "sweep"} | {"num_images": 1}
        return {"version": 1, "kind": "sweep", "base": base, "field": sweep.get("field"),
                "values": list(sweep.get("values") or [])}
    if row["kind"] == "upscale":
        options = {k: old[k] for k in UPSCALE_OPTIONS if k in old}
        return {"version": 1, "kind": "upscale", "source_asset_id": row["source_asset_id"], **options}
    if row["relation"] == "replay" and row["parent_id"]:
        return {"version": 1, "kind": "replay", "request": old, "parent_id": row["parent_id"]}
    if row["relation"] == "vary" and row["parent_id"]:
        return {"version": 1, "kind": "vary", "request": old, "parent_id": row["parent_id"],
                "changes": _changes(connection, row["parent_id"], old)}
    return {"version": 1, "kind": "generate", "request": old}


def _changes(connection: sa.Connection, parent_id: str, request: dict) -> dict:
    """What a variation changed: the fields where it differs from its parent (unknown once the parent is gone)."""
    parent = connection.execute(sa.select(jobs.c.request).where(jobs.c.id == parent_id)).scalar()
    if not isinstance(parent, dict):
        return {}
    if "version" in parent:  # the parent was converted in an earlier batch
        parent = parent.get("request") or {}
    return {k: v for k, v in request.items() if k in parent and parent[k] != v}


def _to_flat(connection: sa.Connection, row: Any) -> dict | None:
    spec = row["request"]
    if not isinstance(spec, dict) or "version" not in spec:
        return None  # already flat
    kind = spec.get("kind")
    if kind == "sweep":
        return {**spec["base"], "num_images": len(spec["values"]),
                "sweep": {"field": spec["field"], "values": spec["values"]}}
    if kind == "upscale":
        return {**{k: spec[k] for k in UPSCALE_OPTIONS if k in spec}, "num_images": 1}
    return spec["request"]
