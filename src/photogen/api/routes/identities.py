"""Identity sets: named groups of uploads of one person or product, each with its coverage report."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from photogen.api.deps import Owner, container_of
from photogen.api.errors import ERROR_RESPONSES
from photogen.api.schemas import (
    CoverageOut,
    IdentityHistoryOut,
    IdentityReferenceOut,
    IdentitySetDeletedOut,
    IdentitySetIn,
    IdentitySetOut,
    IdentitySetPatch,
    IdentitySetSummaryOut,
    ReferenceMeasuresOut,
)

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)

COVERAGE = ("Answers with the coverage report: usable references (each one's preflight), head angles covered "
            "(yaw from the face landmarks), the spread of camera distance and light, each reference's identity "
            "similarity to the others (somebody else is flagged by name with the score) and what is missing.")


def identity_set_out(view) -> IdentitySetOut:
    report = view.coverage
    verdicts = {verdict.upload_id: verdict for verdict in report.references}
    members = []
    for member in view.members:
        verdict = verdicts[member.upload_id]
        members.append(IdentityReferenceOut(
            upload_id=member.upload_id, filename=member.filename, position=member.position, usable=verdict.usable,
            reasons=list(member.reasons), warnings=list(member.warnings), preflight_level=member.preflight_level,
            angle=verdict.angle, distance=verdict.distance, light=verdict.light, similarity=verdict.as_dict()["similarity"],
            level=verdict.level.value, note=verdict.note, added_at=member.added_at,
            measures=ReferenceMeasuresOut(**member.measures.as_dict()) if member.measures is not None else None,
        ))
    return IdentitySetOut(
        id=view.id, name=view.name, kind=view.kind, references=report.total, usable=report.usable,
        created_at=view.created_at, updated_at=view.updated_at, members=members,
        coverage=CoverageOut.model_validate({k: v for k, v in report.as_dict().items() if k != "per_reference"}),
        history=[IdentityHistoryOut(at=e.at, action=e.action, upload_id=e.upload_id, filename=e.filename, by=e.by,
                                    reason=e.reason) for e in view.history],
    )


@router.post("/identities", status_code=201, response_model=IdentitySetOut,
             summary="Make an identity set from your uploads of one person or product", description=COVERAGE)
def create_identity_set(request: Request, owner: Owner, body: IdentitySetIn) -> IdentitySetOut:
    view = container_of(request).identities.create(owner, body.name, body.upload_ids, body.kind)
    return identity_set_out(view)


@router.get("/identities", response_model=list[IdentitySetSummaryOut],
            summary="Your identity sets, most recently changed first")
def list_identity_sets(request: Request, owner: Owner,
                       limit: Annotated[int, Query(ge=1, le=500, description="How many.")] = 200) -> list[IdentitySetSummaryOut]:
    return [IdentitySetSummaryOut(id=s.id, name=s.name, kind=s.kind, references=s.references, usable=s.usable,
                                  created_at=s.created_at, updated_at=s.updated_at)
            for s in container_of(request).identities.list(owner, limit)]


@router.get("/identities/{set_id}", response_model=IdentitySetOut,
            summary="One identity set with its references, coverage report and history")
def get_identity_set(request: Request, owner: Owner, set_id: str) -> IdentitySetOut:
    return identity_set_out(container_of(request).identities.get(owner, set_id))


@router.patch("/identities/{set_id}", response_model=IdentitySetOut,
              summary="Rename an identity set, add or remove references, or reorder them",
              description="`add` and `remove` change the references; `upload_ids` gives the whole new list in order. "
                          "A change that would leave no usable reference is refused (422). " + COVERAGE)
def update_identity_set(request: Request, owner: Owner, set_id: str, body: IdentitySetPatch) -> IdentitySetOut:
    view = container_of(request).identities.update(owner, set_id, name=body.name, add=body.add, remove=body.remove,
                                                   upload_ids=body.upload_ids)
    return identity_set_out(view)


@router.delete("/identities/{set_id}", response_model=IdentitySetDeletedOut,
               summary="Delete an identity set and its history (the uploads stay)")
def delete_identity_set(request: Request, owner: Owner, set_id: str) -> IdentitySetDeletedOut:
    return IdentitySetDeletedOut(deleted=container_of(request).identities.delete(owner, set_id))
