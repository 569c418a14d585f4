"""The owner's own data: retention policy, audit log, and an export of everything."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from photogen.api.deps import Owner, container_of
from photogen.api.errors import ERROR_RESPONSES

router = APIRouter(prefix="/v1/me", responses=ERROR_RESPONSES)


class RetentionIO(BaseModel):
    model_config = ConfigDict(extra="forbid")
    originals_days: int | None = Field(default=None, ge=1, le=36500, description="Uploads, and all made from them, go after this many days; null: the server default.")
    outputs_days: int | None = Field(default=None, ge=1, le=36500, description="Generated outputs go after this many days; null: the server default.")


class AuditOut(BaseModel):
    at: datetime = Field(description="When (UTC).")
    actor: str = Field(description="Who: the owner, or 'retention' for scheduled purges.")
    action: str = Field(description="What, e.g. upload.deleted, asset.purged, retention.set.")
    subject: str = Field(description="Which record, e.g. upload:<id>; never its content.")
    reason: str = Field(description="Why.")
    details: dict[str, Any] | None = Field(description="Counts and settings involved.")


@router.get("/retention", response_model=RetentionIO, summary="Your retention policy (with server defaults filled in)")
def get_retention(request: Request, owner: Owner) -> RetentionIO:
    policy = container_of(request).privacy.retention(owner)
    return RetentionIO(originals_days=policy.originals_days, outputs_days=policy.outputs_days)


@router.put("/retention", response_model=RetentionIO, summary="Set your retention policy")
def set_retention(request: Request, owner: Owner, body: RetentionIO) -> RetentionIO:
    policy = container_of(request).privacy.set_retention(owner, body.originals_days, body.outputs_days)
    return RetentionIO(originals_days=policy.originals_days, outputs_days=policy.outputs_days)


@router.get("/audit", response_model=list[AuditOut], summary="What was deleted or changed, by whom, when and why")
def get_audit(request: Request, owner: Owner,
              limit: Annotated[int, Query(ge=1, le=1000, description="How many, newest first.")] = 200) -> list[AuditOut]:
    return [AuditOut.model_validate(e, from_attributes=True) for e in container_of(request).privacy.audit_log(owner, limit)]


@router.get("/export", summary="A zip of everything you have: uploads (GPS stripped), outputs, metadata",
            response_class=FileResponse, responses={200: {"content": {"application/zip": {}}, "description": "the zip"}})
def export(request: Request, owner: Owner, background: BackgroundTasks) -> FileResponse:
    path = container_of(request).privacy.export(owner)
    background.add_task(path.unlink, missing_ok=True)
    return FileResponse(path, media_type="application/zip", filename="photogen-export.zip")
