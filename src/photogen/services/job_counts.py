"""Counts the metrics read from the database: jobs by state."""

from __future__ import annotations

from sqlalchemy import func, select

from photogen.store.database import Database
from photogen.store.tables import Job


def jobs_by_state(db: Database) -> dict[str, int]:
    with db.session() as session:
        return {state: count for state, count in session.execute(select(Job.state, func.count()).group_by(Job.state))}
