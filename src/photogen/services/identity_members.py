"""Identity set membership inside the caller's transaction: taking a deleted upload out of every set holding it.

Separate from `photogen.services.identities` so that the upload service, which the identity service builds on,
can call it while deleting an upload, in the same transaction, without importing the identity service.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from photogen.store.tables import IdentitySet, IdentitySetMember, utcnow

REASON_LENGTH = 200  # identity_set_members.removed_reason


def end_membership(row: IdentitySetMember, *, actor: str, reason: str, at: datetime) -> None:
    """Record that a member left its set; its measures (the face embedding among them) go with the membership."""
    row.removed_at = at
    row.removed_by = actor[:REASON_LENGTH]
    row.removed_reason = reason[:REASON_LENGTH]
    row.measures = None


def remove_deleted_upload(session, *, owner: str, upload_id: str, actor: str, reason: str) -> int:
    """Take an upload that is being deleted out of the owner's sets, recording it in each set's history.

    Returns how many sets held it. Rows of earlier memberships lose nothing more: their measures went when they
    ended.
    """
    rows = list(session.execute(
        select(IdentitySetMember, IdentitySet)
        .join(IdentitySet, IdentitySet.id == IdentitySetMember.set_id)
        .where(IdentitySetMember.upload_id == upload_id, IdentitySetMember.removed_at.is_(None),
               IdentitySet.owner == owner)
    ).tuples())
    now = utcnow()
    for member, identity_set in rows:
        end_membership(member, actor=actor, reason=f"upload deleted: {reason}", at=now)
        identity_set.updated_at = now
    return len({identity_set.id for _, identity_set in rows})
