"""Counts the metrics read from the database: jobs by state, and a finished job's outputs."""

from __future__ import annotations

from sqlalchemy import func, select

from photogen.store.database import Database
from photogen.store.tables import Asset, Job


def jobs_by_state(db: Database) -> dict[str, int]:
    with db.session() as session:
        return {state: count for state, count in session.execute(select(Job.state, func.count()).group_by(Job.state))}


def outputs_of(db: Database, job_id: str) -> int:
    """The job's stored output images (crops are not outputs)."""
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Asset)
                              .where(Asset.job_id == job_id, Asset.kind != "crop")) or 0
