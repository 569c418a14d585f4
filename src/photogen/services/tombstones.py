"""Blob clean-up after row deletions: a tombstone marks a blob whose rows are gone until the blob is removed too."""

from __future__ import annotations

from sqlalchemy import select

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
        with db.session() as session:
            tombstone = session.get(BlobTombstone, key)
            if tombstone is not None:
                session.delete(tombstone)
        removed += 1
    return removed
