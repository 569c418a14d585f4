"""Which photos a generation draws on: its source and its reference images, from an identity set or from a list
of the owner's uploads.

A request names them one of two ways:
- `reference_upload_ids`: uploads in order. The first is the source the edit starts from unless the request
  names its own source (`upload_id`, `image` or `image_url`); the others are reference images, as many as the
  model takes (more are refused, 422).
- `identity_id`: an identity set. Its usable references in the set's order: the first is the source unless the
  request names its own, the next ones are reference images up to what the model takes (the rest of the set
  still counts for the identity scores).

Every chosen upload must be the owner's (another owner's id is as missing as any other: 404) and pass its
preflight without a block (422 `reference_blocked`). The request then names its references by the SHA-256 of
their bytes, as every other path does (photogen.domain.params.GenerationRequest.references).

The angle check (`angle_warnings`) says before a turn is made whether the references show the way: a turn
larger than the set's yaw coverage reaches, or more than 30 degrees from one photo, warns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from photogen.domain.errors import InvalidRequest, PhotogenError
from photogen.domain.params import MAX_REFERENCES
from photogen.domain.records import UploadRecord
from photogen.services.uploads import UploadService

if TYPE_CHECKING:
    from photogen.services.identities import IdentityService

ONE_PHOTO_MAX_TURN = 30  # degrees: a larger turn from a single photo asks the model to invent the unseen side
COVERAGE_MARGIN = 15  # degrees past the most-turned reference a turn may reach before it counts as unseen


class ReferenceBlocked(PhotogenError):
    code = "reference_blocked"


@dataclass(frozen=True)
class DrawnReferences:
    """What a request's `identity_id` or `reference_upload_ids` came to."""

    source: UploadRecord | None  # the source, when it came from the references (None: the request names its own)
    references: tuple[UploadRecord, ...]  # the reference images beside the source, in order
    identity_id: str | None = None
    yaws: tuple[float, ...] = ()  # measured yaw (degrees) of each usable photo drawn on, for the angle check
    warnings: tuple[str, ...] = field(default=())

    @property
    def digests(self) -> tuple[str, ...]:
        return tuple(upload.sha256 for upload in self.references)


class ReferencePicker:
    def __init__(self, uploads: UploadService, identities: IdentityService | None) -> None:
        self._uploads = uploads
        self._identities = identities

    def draw(self, owner: str, *, identity_id: str | None, reference_upload_ids: list[str] | None,
             source_given: bool, max_references: int | None) -> DrawnReferences | None:
        """The source and references a request draws on, or None when it names neither an identity set nor
        reference uploads. `max_references` caps an identity set's references (None: not known yet)."""
        if identity_id is not None and reference_upload_ids is not None:
            raise InvalidRequest("give identity_id or reference_upload_ids, not both",
                                 hint="an identity set already names its photos")
        if identity_id is not None:
            return self._from_identity(owner, identity_id, source_given, max_references)
        if reference_upload_ids is None:
            return None
        if not reference_upload_ids:
            raise InvalidRequest("reference_upload_ids: give at least one upload id, or leave it out",
                                 hint="upload the photos first: POST /v1/uploads")
        twice = sorted({u for u in reference_upload_ids if reference_upload_ids.count(u) > 1})
        if twice:
            raise InvalidRequest(f"reference_upload_ids: upload {twice[0]} is given more than once",
                                 hint="give each reference once")
        uploads = [self._uploads.get(owner, upload_id) for upload_id in reference_upload_ids]  # 404 if foreign
        for upload in uploads:
            check_not_blocked(upload)
        if source_given:
            return DrawnReferences(None, tuple(uploads), yaws=upload_yaws(uploads))
        return DrawnReferences(uploads[0], tuple(uploads[1:]), yaws=upload_yaws(uploads))

    def _from_identity(self, owner: str, identity_id: str, source_given: bool,
                       max_references: int | None) -> DrawnReferences:
        from photogen.services.identities import NoUsableReference

        if self._identities is None:
            raise InvalidRequest("identity sets are not available on this server", hint="use reference_upload_ids")
        view = self._identities.get(owner, identity_id)  # 404 for another owner's set
        usable = [member for member in view.members if member.usable]
        if not usable:
            raise NoUsableReference(
                f"identity set {view.name!r} has no usable photo ({len(view.members)} reference(s), none usable)",
                hint="add a sharp, well-lit photo where the face is clearly visible (PATCH /v1/identities/{id})",
            )
        uploads = [self._uploads.get(owner, member.upload_id) for member in usable]
        yaws = tuple(m.measures.yaw_degrees for m in usable
                     if m.measures is not None and m.measures.yaw_degrees is not None)
        source = None if source_given else uploads.pop(0)
        cap = MAX_REFERENCES if max_references is None else max_references  # None: the worker checks the model
        return DrawnReferences(source, tuple(uploads[:cap]), identity_id=view.id, yaws=yaws)


def check_not_blocked(upload: UploadRecord) -> None:
    """A photo whose preflight blocks it cannot be drawn on: 422 naming the photo and the failed checks."""
    preflight = upload.preflight or {}
    if preflight.get("level") != "block":
        return
    failed = [c for c in preflight.get("checks") or [] if c.get("level") == "block"]
    why = "; ".join(f"{c.get('name')}: {c.get('message')}" for c in failed) or "its preflight blocks it"
    fix = next((c.get("fix") for c in failed if c.get("fix")), "") or "choose another photo"
    name = upload.filename or f"upload {upload.id}"
    raise ReferenceBlocked(f"reference {name} fails its preflight ({why})", hint=fix)


def angle_warnings(angle: int | None, yaws: tuple[float, ...], photos: int) -> list[str]:
    """What to know before a head turn of `angle` degrees from the source, whose yaw is `yaws[0]` when known,
    with `yaws` the measured yaws of the photos drawn on and `photos` how many photos the model sees.

    From one photo a turn past 30 degrees is a guess. With several, the turned face (source yaw + angle) should
    stay within what their yaws cover, give or take COVERAGE_MARGIN degrees."""
    if angle is None:
        return []
    warnings = []
    if photos <= 1 and abs(angle) > ONE_PHOTO_MAX_TURN:
        warnings.append(f"angle: a {abs(angle)} degree turn from one photo is more than {ONE_PHOTO_MAX_TURN} "
                        "degrees; the model must invent the side it cannot see. Turn in steps of 15, or add a "
                        "photo taken from that side")
    if len(yaws) >= 2:
        target = yaws[0] + angle
        low, high = min(yaws) - COVERAGE_MARGIN, max(yaws) + COVERAGE_MARGIN
        if not low <= target <= high:
            side = "right" if angle > 0 else "left"
            warnings.append(f"angle: the references cover {min(yaws):+.0f} to {max(yaws):+.0f} degrees of yaw; "
                            f"turning {angle:+d} degrees from the source ({yaws[0]:+.0f}) reaches {target:+.0f}, "
                            f"past what they show. Add a three-quarter {side} photo, or turn less")
    return warnings


def upload_yaws(uploads: list[UploadRecord]) -> tuple[float, ...]:
    """The yaw of each photo's largest face, from its stored preflight (photos without a face count as none)."""
    from photogen.intake.faces import Face

    yaws = []
    for upload in uploads:
        faces = (upload.preflight or {}).get("faces") or []
        if faces:
            values = faces[0]
            face = Face(box=tuple(values["box"]), landmarks=tuple(tuple(p) for p in values["landmarks"]),
                        score=float(values.get("score", 1.0)))
            if face.yaw_degrees is not None:
                yaws.append(float(face.yaw_degrees))
    return tuple(yaws)
