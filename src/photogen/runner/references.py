"""A job's reference photos on the worker: what its outputs record of them, and the identity set's faces."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import select

from photogen.domain.jobs import GenerationSpec
from photogen.store.database import Database
from photogen.store.tables import IdentitySet, IdentitySetMember


def provenance_of(spec: GenerationSpec) -> dict[str, Any]:
    """What each output of a job with references records beside its request: the identity set and every photo
    drawn on (source and references) by upload id and SHA-256; nothing for a job without references."""
    recorded: dict[str, Any] = {}
    if spec.identity_id:
        recorded["identity_id"] = spec.identity_id
    if spec.reference_uploads:
        recorded["references"] = [reference.model_dump(mode="json") for reference in spec.reference_uploads]
    if spec.warnings:
        recorded["warnings"] = list(spec.warnings)
    return recorded


def identity_embeddings(db: Database | None, owner: str, set_id: str) -> list[np.ndarray] | None:
    """The stored face embeddings of an identity set's current usable references (None when the set is gone)."""
    if db is None:
        return None
    with db.session() as session:
        identity_set = session.get(IdentitySet, set_id)
        if identity_set is None or identity_set.owner != owner:
            return None
        rows = session.scalars(select(IdentitySetMember.measures).where(
            IdentitySetMember.set_id == set_id, IdentitySetMember.removed_at.is_(None)))
        stored = [measures or {} for measures in rows]
    return [np.asarray(m["embedding"], dtype=np.float32) for m in stored if m.get("usable") and m.get("embedding")]
