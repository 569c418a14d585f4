"""The audit log's writer: every deletion and policy change says who, what, when and why."""

from __future__ import annotations

from typing import Any

from photogen.store.tables import AuditEvent


def audit(session, *, actor: str, owner: str, action: str, subject: str, reason: str, **details: Any) -> None:
    """One audit entry, written in the caller's transaction: who, what, when, why; never the content."""
    session.add(AuditEvent(actor=actor, owner=owner, action=action, subject=subject, reason=reason,
                           details=details or None))
