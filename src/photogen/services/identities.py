"""Identity sets: named groups of one owner's uploads of one person or one product, with a coverage report.

Each reference is measured once, when it joins a set (uploads never change): the face's angle, size and light
from the stored preflight's landmarks on the upload's 1024 px analysis preview, and its SFace embedding. The
coverage report (`photogen.scoring.coverage`) is then computed from those stored values on every read.
Leaving a set keeps the membership row as history and drops its measures; deleting the upload does the same
(`photogen.services.identity_members`, called by the upload service).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from photogen.domain.errors import InvalidRequest, PhotogenError
from photogen.services.audit import audit
from photogen.services.identity_members import end_membership
from photogen.services.uploads import NotFound, UploadService
from photogen.store.database import Database
from photogen.store.tables import IdentitySet, IdentitySetMember, Upload, utcnow

if TYPE_CHECKING:
    import numpy as np

    from photogen.intake.faces import Face
    from photogen.intake.reference import ReferenceMeasures
    from photogen.scoring.coverage import CoverageReport
    from photogen.scoring.identity import IdentityScorer

KINDS = ("person", "product")
MAX_REFERENCES = 50  # references one set may hold at a time
NAME_LENGTH = 200
MEASURES_VERSION = 1
LIST_HINT = "list your identity sets with GET /v1/identities or `photogen identities list`"


class NoUsableReference(PhotogenError):
    code = "no_usable_reference"


@dataclass(frozen=True)
class Member:
    """One current reference of a set, with what was measured when it joined."""

    upload_id: str
    filename: str
    position: int
    added_at: datetime
    added_by: str
    usable: bool
    reasons: tuple[str, ...]  # why it is not usable
    warnings: tuple[str, ...]  # preflight findings and notes that do not stop it being used
    preflight_level: str | None
    measures: ReferenceMeasures | None
    embedding: np.ndarray | None

    @property
    def name(self) -> str:
        return self.filename or f"upload {self.upload_id[:8]}"


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    action: str  # added or removed
    upload_id: str
    filename: str | None  # None once the upload is deleted
    by: str
    reason: str = ""


@dataclass(frozen=True)
class IdentitySetView:
    id: str
    name: str
    kind: str
    created_at: datetime
    updated_at: datetime
    members: tuple[Member, ...]
    coverage: CoverageReport
    history: tuple[HistoryEntry, ...]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values, as the CLI prints them (the API shapes its own wire types)."""
        verdicts = {verdict.upload_id: verdict.as_dict() for verdict in self.coverage.references}
        report = self.coverage.as_dict()
        report.pop("per_reference")
        return {
            "id": self.id, "name": self.name, "kind": self.kind,
            "created_at": _aware(self.created_at).isoformat(), "updated_at": _aware(self.updated_at).isoformat(),
            "members": [{**verdicts[m.upload_id], "filename": m.filename, "position": m.position,
                         "warnings": list(m.warnings), "preflight_level": m.preflight_level,
                         "measures": m.measures.as_dict() if m.measures else None,
                         "added_at": _aware(m.added_at).isoformat()} for m in self.members],
            "coverage": report,
            "history": [{"at": _aware(e.at).isoformat(), "action": e.action, "upload_id": e.upload_id,
                         "filename": e.filename, "by": e.by, "reason": e.reason} for e in self.history],
        }


@dataclass(frozen=True)
class IdentitySetSummary:
    id: str
    name: str
    kind: str
    references: int
    usable: int
    created_at: datetime
    updated_at: datetime


class IdentityService:
    def __init__(self, db: Database, uploads: UploadService, scorer: IdentityScorer | None = None) -> None:
        self._db = db
        self._uploads = uploads
        self._scorer = scorer

    # -- reading -------------------------------------------------------------------------------

    def list(self, owner: str, limit: int = 200) -> list[IdentitySetSummary]:
        """The owner's sets, most recently changed first, with their reference counts."""
        with self._db.session() as session:
            sets = list(session.scalars(select(IdentitySet).where(IdentitySet.owner == owner)
                                        .order_by(IdentitySet.updated_at.desc(), IdentitySet.id).limit(limit)))
            rows = session.execute(
                select(IdentitySetMember.set_id, IdentitySetMember.measures)
                .where(IdentitySetMember.set_id.in_([s.id for s in sets]), IdentitySetMember.removed_at.is_(None))
            ).all() if sets else []
        counts: dict[str, list[int]] = {s.id: [0, 0] for s in sets}
        for set_id, measures in rows:
            counts[set_id][0] += 1
            counts[set_id][1] += bool((measures or {}).get("usable"))
        return [IdentitySetSummary(s.id, s.name, s.kind, *counts[s.id], s.created_at, s.updated_at) for s in sets]

    def get(self, owner: str, set_id: str) -> IdentitySetView:
        with self._db.session() as session:
            return self._view(session, self._owned(session, owner, set_id))

    # -- changing ------------------------------------------------------------------------------

    def create(self, owner: str, name: str, upload_ids: list[str], kind: str = "person", *,
               actor: str | None = None) -> IdentitySetView:
        """A new set of these uploads, in this order; refused unless at least one of them is usable."""
        # 1. check the request and that every upload is the owner's (a foreign id is as missing as any other)
        name = _check_name(name)
        if kind not in KINDS:
            raise InvalidRequest(f"kind: {kind!r} is not a kind of identity set", hint="use person or product")
        _check_ids(upload_ids, "upload_ids")
        uploads = [self._uploads.get(owner, upload_id) for upload_id in upload_ids]
        # 2. measure each reference once, before the transaction
        measured = {upload.id: self._measure(owner, upload, kind) for upload in uploads}
        _require_usable(measured, {u.id: u.filename for u in uploads})
        # 3. the rows, with the uploads checked again in the writing transaction
        now = utcnow()
        set_id = uuid.uuid4().hex
        with self._db.session(write_lock=True) as session:
            _check_still_there(session, owner, upload_ids)
            session.add(IdentitySet(id=set_id, owner=owner, name=name, kind=kind, created_at=now, updated_at=now))
            session.flush()
            for position, upload_id in enumerate(upload_ids):
                session.add(IdentitySetMember(set_id=set_id, upload_id=upload_id, position=position,
                                              measures=measured[upload_id], added_at=now, added_by=actor or owner))
        return self.get(owner, set_id)

    def update(self, owner: str, set_id: str, *, name: str | None = None, add: list[str] | None = None,
               remove: list[str] | None = None, upload_ids: list[str] | None = None,
               actor: str | None = None) -> IdentitySetView:
        """Rename a set, add or remove references, or give its whole new list of references (in order).

        The change is refused, and nothing changes, if no usable reference would be left.
        """
        # 1. what is asked
        if name is None and add is None and remove is None and upload_ids is None:
            raise InvalidRequest("nothing to change", hint="give name, add, remove or upload_ids")
        if upload_ids is not None and (add is not None or remove is not None):
            raise InvalidRequest("upload_ids: give either the whole new list or add/remove, not both",
                                 hint="upload_ids replaces the references; add and remove change them")
        name = None if name is None else _check_name(name)
        with self._db.session() as session:
            identity_set = self._owned(session, owner, set_id)
            current = _active(session, set_id)
        order = [row.upload_id for row in current]
        # 2. the new list of references
        if upload_ids is not None:
            _check_ids(upload_ids, "upload_ids")
            wanted = list(upload_ids)
        else:
            _check_ids(add or [], "add", allow_empty=True)
            _check_ids(remove or [], "remove", allow_empty=True)
            for upload_id in remove or []:
                if upload_id not in order:
                    raise InvalidRequest(f"remove: upload {upload_id} is not a reference of this set",
                                         hint="the set's references are listed by GET /v1/identities/{id}")
            for upload_id in add or []:
                if upload_id in order:
                    raise InvalidRequest(f"add: upload {upload_id} is already a reference of this set",
                                         hint="leave it out of add")
            wanted = [upload_id for upload_id in order if upload_id not in set(remove or [])] + list(add or [])
        if len(wanted) > MAX_REFERENCES:
            raise InvalidRequest(f"upload_ids: a set holds at most {MAX_REFERENCES} references, this would be "
                                 f"{len(wanted)}", hint="keep the best photos of each angle, distance and light")
        # 3. measure the newcomers; the rest keep their measures
        joining = [self._uploads.get(owner, upload_id) for upload_id in wanted if upload_id not in order]
        measured = {upload.id: self._measure(owner, upload, identity_set.kind) for upload in joining}
        kept = {row.upload_id: row.measures or {} for row in current if row.upload_id in wanted}
        if upload_ids is not None or add or remove:
            names = {**self._filenames(owner, list(kept)), **{u.id: u.filename for u in joining}}
            _require_usable({**kept, **measured}, names)
        # 4. write it all at once
        now = utcnow()
        with self._db.session(write_lock=True) as session:
            identity_set = self._owned(session, owner, set_id)
            rows = {row.upload_id: row for row in _active(session, set_id)}
            if sorted(rows) != sorted(order):
                raise PhotogenError("the set changed while this change was prepared", code="identity_set_changed",
                                    hint="read the set again and repeat the change")
            _check_still_there(session, owner, [u.id for u in joining])
            for upload_id, row in rows.items():
                if upload_id not in wanted:
                    end_membership(row, actor=actor or owner, reason="removed by the owner", at=now)
            for position, upload_id in enumerate(wanted):
                if upload_id in rows:
                    rows[upload_id].position = position
                else:
                    session.add(IdentitySetMember(set_id=set_id, upload_id=upload_id, position=position,
                                                  measures=measured[upload_id], added_at=now,
                                                  added_by=actor or owner))
            if name is not None:
                identity_set.name = name
            identity_set.updated_at = now
        return self.get(owner, set_id)

    def delete(self, owner: str, set_id: str, *, actor: str | None = None) -> dict[str, int]:
        """Delete a set with its history; the uploads stay. The audit log records it."""
        with self._db.session(write_lock=True) as session:
            identity_set = self._owned(session, owner, set_id)
            members = list(session.scalars(select(IdentitySetMember).where(IdentitySetMember.set_id == set_id)))
            active = sum(1 for row in members if row.removed_at is None)
            session.execute(delete(IdentitySetMember).where(IdentitySetMember.set_id == set_id))
            session.delete(identity_set)
            audit(session, actor=actor or owner, owner=owner, action="identity_set.deleted",
                  subject=f"identity_set:{set_id}", reason="requested by the owner", references=active)
        self._db.checkpoint()  # the embeddings' old versions leave the write-ahead log too
        return {"references": active, "records": len(members)}

    # -- helpers -------------------------------------------------------------------------------

    def _owned(self, session, owner: str, set_id: str) -> IdentitySet:
        row = session.get(IdentitySet, set_id)
        if row is None or row.owner != owner:
            raise NotFound(f"no identity set {set_id}", hint=LIST_HINT)
        return row

    def _filenames(self, owner: str, upload_ids: list[str]) -> dict[str, str]:
        if not upload_ids:
            return {}
        with self._db.session() as session:
            rows = session.execute(select(Upload.id, Upload.filename)
                                   .where(Upload.owner == owner, Upload.id.in_(upload_ids))).all()
        return dict(rows)

    def _view(self, session, identity_set: IdentitySet) -> IdentitySetView:
        from photogen.scoring.coverage import coverage

        rows = list(session.scalars(select(IdentitySetMember).where(IdentitySetMember.set_id == identity_set.id)
                                    .order_by(IdentitySetMember.id)))
        ids = sorted({row.upload_id for row in rows})
        filenames = dict(session.execute(select(Upload.id, Upload.filename)
                                         .where(Upload.owner == identity_set.owner, Upload.id.in_(ids))).all())
        active = sorted((row for row in rows if row.removed_at is None), key=lambda row: (row.position, row.id))
        members = tuple(_member(row, filenames.get(row.upload_id, "")) for row in active)
        report = coverage([_reference(member) for member in members], identity_set.kind)
        history: list[HistoryEntry] = []
        for row in rows:
            name = filenames.get(row.upload_id)
            history.append(HistoryEntry(row.added_at, "added", row.upload_id, name, row.added_by))
            if row.removed_at is not None:
                history.append(HistoryEntry(row.removed_at, "removed", row.upload_id, name, row.removed_by or "",
                                            row.removed_reason or ""))
        history.sort(key=lambda entry: (_aware(entry.at), entry.action == "removed"))
        return IdentitySetView(identity_set.id, identity_set.name, identity_set.kind, identity_set.created_at,
                               identity_set.updated_at, members, report, tuple(history))

    def _measure(self, owner: str, upload: Upload, kind: str) -> dict[str, Any]:
        """What the coverage report needs of one upload, as stored in its membership row."""
        import numpy as np

        from photogen.intake.faces import default_detector, largest_faces
        from photogen.intake.reference import measure_face, measure_product
        from photogen.scoring.identity import default_identity_scorer

        preflight = upload.preflight or {}
        level = preflight.get("level")
        checks = preflight.get("checks") or []
        reasons = [f"{c['name']}: {c['message']}" for c in checks if c.get("level") == "block"]
        warnings = [f"{c['name']}: {c['message']}" for c in checks if c.get("level") == "warn"]
        rgb = np.asarray(self._uploads.analysis_image(owner, upload.id).image)
        scale = rgb.shape[1] / upload.width  # stored faces are in full-size pixels
        faces = [_face(values).scaled(scale) for values in preflight.get("faces") or []]
        measures, embedding = None, None
        if kind == "product":
            measures = measure_product(rgb)
        else:
            faces = faces or default_detector().detect(rgb)  # preflights for product uses look for no faces
            people = largest_faces(faces)
            if not faces:
                reasons.append("no face found: an identity reference of a person needs the face clearly visible")
            else:
                measures = measure_face(rgb, faces[0], len(people))
                vector = (self._scorer or default_identity_scorer()).embed_face(rgb, faces[0]).vector
                embedding = [round(float(value), 6) for value in vector]
                if len(people) > 1:
                    warnings.append(f"{len(people)} people in the photo: the largest face is the reference")
        return {
            "version": MEASURES_VERSION,
            "usable": level != "block" and measures is not None,
            "reasons": reasons,
            "warnings": warnings,
            "preflight_level": level,
            "measures": measures.as_dict() if measures is not None else None,
            "embedding": embedding,
        }


def _face(values: dict[str, Any]) -> Face:
    from photogen.intake.faces import Face

    return Face(box=tuple(values["box"]), landmarks=tuple(tuple(point) for point in values["landmarks"]),
                score=float(values.get("score", 1.0)))


def _member(row: IdentitySetMember, filename: str) -> Member:
    import numpy as np

    from photogen.intake.reference import ReferenceMeasures

    stored = row.measures or {}
    measures = stored.get("measures")
    embedding = stored.get("embedding")
    return Member(
        upload_id=row.upload_id, filename=filename, position=row.position, added_at=row.added_at,
        added_by=row.added_by, usable=bool(stored.get("usable")), reasons=tuple(stored.get("reasons") or ()),
        warnings=tuple(stored.get("warnings") or ()), preflight_level=stored.get("preflight_level"),
        measures=ReferenceMeasures.from_dict(measures) if measures else None,
        embedding=np.asarray(embedding, dtype=np.float32) if embedding else None,
    )


def _reference(member: Member):
    from photogen.scoring.coverage import Reference

    return Reference(member.upload_id, member.name, member.usable, member.reasons, member.measures, member.embedding)


def _active(session, set_id: str) -> list[IdentitySetMember]:
    return list(session.scalars(
        select(IdentitySetMember).where(IdentitySetMember.set_id == set_id, IdentitySetMember.removed_at.is_(None))
        .order_by(IdentitySetMember.position, IdentitySetMember.id)))


def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidRequest("name: a name is required", hint="name the person or product, e.g. 'Eileen'")
    if len(name) > NAME_LENGTH:
        raise InvalidRequest(f"name: at most {NAME_LENGTH} characters", hint="use a shorter name")
    return name


def _check_ids(upload_ids: list[str], field: str, *, allow_empty: bool = False) -> None:
    if not upload_ids and not allow_empty:
        raise InvalidRequest(f"{field}: give at least one upload id", hint="upload the photos first: POST /v1/uploads")
    if len(upload_ids) > MAX_REFERENCES:
        raise InvalidRequest(f"{field}: a set holds at most {MAX_REFERENCES} references, got {len(upload_ids)}",
                             hint="keep the best photos of each angle, distance and light")
    twice = sorted({upload_id for upload_id in upload_ids if upload_ids.count(upload_id) > 1})
    if twice:
        raise InvalidRequest(f"{field}: upload {twice[0]} is given more than once", hint="give each upload once")


def _require_usable(measured: dict[str, dict[str, Any]], filenames: dict[str, str]) -> None:
    if any(values.get("usable") for values in measured.values()):
        return
    hint = "add a sharp, well-lit photo where the face (or the product) is clearly visible"
    if not measured:
        raise NoUsableReference("an identity set needs at least one usable photo, and this change leaves none",
                                hint=hint)
    why = "; ".join(f"{filenames.get(upload_id) or upload_id}: {', '.join(values.get('reasons') or ['not usable'])}"
                    for upload_id, values in measured.items())
    raise NoUsableReference(f"an identity set needs at least one usable photo, and none of these is ({why})",
                            hint=hint)


def _check_still_there(session, owner: str, upload_ids: list[str]) -> None:
    if not upload_ids:
        return
    # a share lock on PostgreSQL: an upload deleted meanwhile waits for this transaction, then finds its new
    # membership rows and ends them (SQLite's write lock already orders the two)
    found = set(session.scalars(select(Upload.id).where(Upload.owner == owner, Upload.id.in_(upload_ids))
                                .with_for_update(read=True)))
    for upload_id in upload_ids:
        if upload_id not in found:
            raise NotFound(f"no upload {upload_id}", hint="list your uploads with GET /v1/uploads")


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive UTC times."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


