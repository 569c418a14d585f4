"""Blob clean-up after row deletions: a tombstone marks a blob whose rows are gone until the blob is removed too."""

from __future__ import annotations

from sqlalchemy import delete, select

from photogen.store.blobs import BlobStore
from photogen.store.database import Database
from photogen.store.tables import BlobTombstone


def sweep_tombstones(db: Database, blobs: BlobStore) -> int:
    """Remove blobs whose rows are gone; each tombstone is dropped only once its blob is."""
    with db.session() as session:
        keys = list(session.scalars(select(BlobTombstone.blob_key)))
    removed = 0
    for key in keys:
        blobs.delete(key)
        # One statement that writes, under the write lock from its start: a read first would make SQLite refuse
        # the write ("database is locked") whenever another writer (a heartbeat) committed in between.
        with db.session(write_lock=True) as session:
            session.execute(delete(BlobTombstone).where(BlobTombstone.blob_key == key))
        removed += 1
    return removed
