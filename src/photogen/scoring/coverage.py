"""The coverage report of an identity set: what its references cover, how alike they are, what is missing.

An identity set is a few photos of one person (or one product) that later generations draw on. The report
reads each reference's measured values (`photogen.intake.reference`) and its SFace embedding
(`photogen.scoring.identity`) and says, with numbers:

- how many references are usable (preflight not blocked; for a person, a face found);
- which head angles they cover: straight-on (|yaw| under STRAIGHT_ON_MAX_YAW degrees), three-quarter left and
  three-quarter right, named by the side of the photo the nose points to. Five landmarks cannot tell a strong
  three-quarter view from a profile, so every turned face counts as three-quarter;
- the spread of camera distance (the face's height as a share of the frame's: close-up from
  CLOSE_UP_MIN_SHARE, wide below WIDE_MAX_SHARE) and of light (face brightness, and which side is brighter);
- consistency: each reference's cosine similarity to the others. The largest group of references that pass as
  one person (OpenCV's SFace threshold, 0.363) is taken as the set's identity, the group of the earlier
  reference winning a tie; a reference outside it is flagged by name with its score, and one far below the rest
  of the group (WEAK_MATCH_MARGIN) warns;
- what is missing, in plain words.

Pure: no I/O, the same references always give the same report.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from photogen.intake.reference import ReferenceMeasures
from photogen.intake.thresholds import Level
from photogen.scoring.identity import IDENTITY_DRIFT_THRESHOLD

STRAIGHT_ON_MAX_YAW = 15.0  # degrees; a "slight three-quarter" turn is 15-30
CLOSE_UP_MIN_SHARE = 0.4  # face height / frame height: the face fills this much of the frame or more
WIDE_MAX_SHARE = 0.2  # below this the frame holds the upper body or more (head and shoulders in between)
PRODUCT_DETAIL_MIN_SHARE = 0.5  # product box area / frame area: a detail shot from this share up
PRODUCT_WIDE_MAX_SHARE = 0.15  # the product in its surroundings below this share
EVEN_LIGHT_MAX_STOPS = 0.5  # one half of the face brighter by less than this: even light (2:1 lighting is 1 stop)
ALIKE_BRIGHTNESS_LEVELS = 30  # faces whose mean luma spans less than this are lit alike
WEAK_MATCH_MARGIN = 0.2  # a reference this far below the group's median similarity matches weakly
RECOMMENDED_REFERENCES = 3  # fewer usable references than this: suggest more

ANGLES = ("straight_on", "three_quarter_left", "three_quarter_right")
FACE_DISTANCES = ("close_up", "head_and_shoulders", "wide")
PRODUCT_DISTANCES = ("detail", "whole", "in_context")
LIGHTS = ("even", "from_left", "from_right")


@dataclass(frozen=True, eq=False)
class Reference:
    """One member of a set as the report reads it. `name` is what people call it (its file name)."""

    upload_id: str
    name: str
    usable: bool
    reasons: tuple[str, ...] = ()  # why it is not usable, or what to know about it
    measures: ReferenceMeasures | None = None
    embedding: np.ndarray | None = None  # unit-length SFace embedding of its face


@dataclass(frozen=True)
class ReferenceVerdict:
    """What the report says about one reference."""

    upload_id: str
    name: str
    usable: bool
    reasons: tuple[str, ...]
    angle: str | None = None
    distance: str | None = None
    light: str | None = None
    similarity: float | None = None  # mean cosine similarity to the set's identity (the others of its group)
    level: Level = Level.OK
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "upload_id": self.upload_id,
            "name": self.name,
            "usable": self.usable,
            "reasons": list(self.reasons),
            "angle": self.angle,
            "distance": self.distance,
            "light": self.light,
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "level": self.level.value,
            "note": self.note,
        }


@dataclass(frozen=True)
class Spread:
    """The range of one measured value over the usable references, and how many fall in each band."""

    measure: str
    unit: str
    minimum: float | None
    maximum: float | None
    counts: dict[str, int]

    @property
    def spread(self) -> float | None:
        return None if self.minimum is None or self.maximum is None else self.maximum - self.minimum

    def as_dict(self) -> dict[str, Any]:
        rounded = {name: None if value is None else round(value, 3)
                   for name, value in (("min", self.minimum), ("max", self.maximum), ("spread", self.spread))}
        return {"measure": self.measure, "unit": self.unit, **rounded, "counts": dict(self.counts)}


@dataclass(frozen=True)
class Flag:
    """A reference the set should not keep as it is: named, with its score and what to do."""

    upload_id: str
    name: str
    level: Level
    similarity: float | None
    message: str
    fix: str

    def as_dict(self) -> dict[str, Any]:
        return {"upload_id": self.upload_id, "name": self.name, "level": self.level.value,
                "similarity": None if self.similarity is None else round(self.similarity, 4),
                "message": self.message, "fix": self.fix}


@dataclass(frozen=True)
class Consistency:
    """How alike the usable references are. `level` is not_measured with fewer than two embeddings."""

    level: str
    message: str
    threshold: float
    pairs: tuple[tuple[str, str, float], ...] = ()  # (upload id, upload id, cosine similarity)

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "message": self.message, "threshold": self.threshold,
                "pairs": [{"a": a, "b": b, "similarity": round(s, 4)} for a, b, s in self.pairs]}


@dataclass(frozen=True)
class CoverageReport:
    kind: str  # "person" or "product"
    total: int
    usable: int
    references: tuple[ReferenceVerdict, ...]
    angles: dict[str, int] | None  # None for products
    distance: Spread | None
    brightness: Spread | None
    light_direction: Spread | None
    consistency: Consistency
    flags: tuple[Flag, ...] = ()
    missing: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def level(self) -> Level:
        """block: nothing usable, somebody else in the set or no two faces alike; warn: weak matches or gaps."""
        if self.usable == 0:
            return Level.BLOCK
        measured = [Level(self.consistency.level)] if self.consistency.level != "not_measured" else []
        worst = Level.worst([flag.level for flag in self.flags] + measured)
        if worst is Level.OK and self.missing:
            return Level.WARN
        return worst

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "level": self.level.value,
            "references": {"total": self.total, "usable": self.usable},
            "angles": self.angles,
            "distance": self.distance.as_dict() if self.distance else None,
            "lighting": {"brightness": self.brightness.as_dict() if self.brightness else None,
                         "direction": self.light_direction.as_dict() if self.light_direction else None},
            "consistency": self.consistency.as_dict(),
            "flags": [flag.as_dict() for flag in self.flags],
            "missing": list(self.missing),
            "notes": list(self.notes),
            "per_reference": [verdict.as_dict() for verdict in self.references],
        }


def coverage(references: list[Reference] | tuple[Reference, ...], kind: str = "person") -> CoverageReport:
    """The coverage report of these references, in the set's order."""
    # 1. what each usable reference covers
    usable = [ref for ref in references if ref.usable and ref.measures is not None]
    usable_ids = {ref.upload_id for ref in usable}
    person = kind == "person"
    angle = {ref.upload_id: _angle(ref.measures) for ref in usable} if person else {}
    distance = {ref.upload_id: (_face_distance if person else _product_distance)(ref.measures) for ref in usable}
    light = {ref.upload_id: _light(ref.measures) for ref in usable}

    # 2. the spreads
    angles = _count(angle.values(), ANGLES) if person else None
    shares = [ref.measures.face_share if person else ref.measures.subject_share for ref in usable]
    distances = _spread("face height / frame height" if person else "product area / frame area",
                        "share of the frame", shares, _count(distance.values(), FACE_DISTANCES if person else PRODUCT_DISTANCES))
    brightness = _spread("mean luma of the face" if person else "mean luma of the product", "0-255",
                         [ref.measures.brightness for ref in usable], {})
    direction = _spread("right half over left half, linear light", "stops",
                        [ref.measures.light_direction_stops for ref in usable], _count(light.values(), LIGHTS))

    # 3. consistency, from the embeddings
    similarity, consistency, flags = _consistency([ref for ref in usable if ref.embedding is not None], person)
    flagged = {flag.upload_id: flag for flag in flags}

    # 4. one verdict per reference, then what is missing
    verdicts = tuple(_verdict(ref, ref.upload_id in usable_ids, angle, distance, light, similarity, flagged)
                     for ref in references)
    missing = _missing(len(usable), angles, distances, brightness, direction, person)
    notes = () if person else (
        ("product angles are not measured: make sure the front, the sides, the back and a detail are among the photos"),
        "identity similarity is measured on faces only",
    )
    return CoverageReport(kind=kind, total=len(references), usable=len(usable), references=verdicts, angles=angles,
                          distance=distances, brightness=brightness, light_direction=direction,
                          consistency=consistency, flags=flags, missing=missing, notes=notes)


def _verdict(ref: Reference, usable: bool, angle: dict, distance: dict, light: dict, similarity: dict,
             flagged: dict[str, Flag]) -> ReferenceVerdict:
    flag = flagged.get(ref.upload_id)
    if flag is not None:
        level, note = flag.level, flag.message
    else:
        level, note = (Level.OK, "") if usable else (Level.BLOCK, "; ".join(ref.reasons))
    return ReferenceVerdict(upload_id=ref.upload_id, name=ref.name, usable=usable, reasons=ref.reasons,
                            angle=angle.get(ref.upload_id), distance=distance.get(ref.upload_id),
                            light=light.get(ref.upload_id), similarity=similarity.get(ref.upload_id),
                            level=level, note=note)


# -- bands ---------------------------------------------------------------------------------------

def _angle(measures: ReferenceMeasures) -> str | None:
    yaw = measures.yaw_degrees
    if yaw is None:
        return None
    if abs(yaw) < STRAIGHT_ON_MAX_YAW:
        return "straight_on"
    return "three_quarter_right" if yaw > 0 else "three_quarter_left"


def _face_distance(measures: ReferenceMeasures) -> str | None:
    share = measures.face_share
    if share is None:
        return None
    if share >= CLOSE_UP_MIN_SHARE:
        return "close_up"
    return "wide" if share < WIDE_MAX_SHARE else "head_and_shoulders"


def _product_distance(measures: ReferenceMeasures) -> str | None:
    share = measures.subject_share
    if share is None:
        return None
    if share >= PRODUCT_DETAIL_MIN_SHARE:
        return "detail"
    return "in_context" if share < PRODUCT_WIDE_MAX_SHARE else "whole"


def _light(measures: ReferenceMeasures) -> str | None:
    stops = measures.light_direction_stops
    if stops is None:
        return None
    if abs(stops) < EVEN_LIGHT_MAX_STOPS:
        return "even"
    return "from_right" if stops > 0 else "from_left"


def _count(values, names: tuple[str, ...]) -> dict[str, int]:
    values = list(values)
    return {name: values.count(name) for name in names}


def _spread(measure: str, unit: str, values: list[float | None], counts: dict[str, int]) -> Spread:
    known = [value for value in values if value is not None]
    return Spread(measure, unit, min(known) if known else None, max(known) if known else None, counts)


# -- consistency ---------------------------------------------------------------------------------

def _consistency(refs: list[Reference], person: bool) -> tuple[dict[str, float], Consistency, tuple[Flag, ...]]:
    threshold = IDENTITY_DRIFT_THRESHOLD
    if not person:
        return {}, Consistency("not_measured", "identity similarity is measured on faces only", threshold), ()
    if len(refs) < 2:
        return {}, Consistency("not_measured", "consistency needs two usable references with a face", threshold), ()
    # 1. every pair's cosine similarity
    vectors = np.stack([ref.embedding for ref in refs])
    matrix = np.clip(vectors @ vectors.T, -1.0, 1.0)
    n = len(refs)
    pairs = tuple((refs[i].upload_id, refs[j].upload_id, float(matrix[i, j])) for i in range(n) for j in range(i + 1, n))
    matches = matrix >= threshold
    np.fill_diagonal(matches, False)
    # 2. the identity: the reference matching the most others (the earlier one on a tie, so the set's first photo
    # decides between two equal groups) and its matches, joined by any reference that passes as them on average
    centre = max(range(n), key=lambda i: (int(matches[i].sum()), -i))
    group = {centre, *np.flatnonzero(matches[centre]).tolist()}
    group |= {i for i in range(n) if i not in group and float(np.mean([matrix[i, j] for j in group])) >= threshold}
    if len(group) == 1:
        best = max(pair[2] for pair in pairs)
        scores = {ref.upload_id: float(np.mean([matrix[i, j] for j in range(n) if j != i])) for i, ref in enumerate(refs)}
        names = ", ".join(ref.name for ref in refs)
        message = (f"no two references look like the same person (the closest pair scores {best:.2f}; "
                   f"the same person scores {threshold} or more): {names}")
        return scores, Consistency(Level.BLOCK.value, message, threshold, pairs), ()
    # 3. each reference's score against the identity, and who stands out
    scores = {refs[i].upload_id: float(np.mean([matrix[i, j] for j in group if j != i])) for i in range(n)}
    flags = [
        Flag(refs[i].upload_id, refs[i].name, Level.BLOCK, scores[refs[i].upload_id],
             f"{refs[i].name} does not look like the set's person: similarity {scores[refs[i].upload_id]:.2f} "
             f"(the same person scores {threshold} or more)",
             "remove it from the set, or replace it with a sharp photo of the same person")
        for i in range(n) if i not in group
    ]
    in_group = [scores[refs[i].upload_id] for i in sorted(group)]
    if len(group) >= 3:
        median = statistics.median(in_group)
        flags += [
            Flag(refs[i].upload_id, refs[i].name, Level.WARN, scores[refs[i].upload_id],
                 f"{refs[i].name} matches the others less well: similarity {scores[refs[i].upload_id]:.2f}, "
                 f"the set's median {median:.2f}",
                 "replace it with a sharper, better lit photo of the face")
            for i in sorted(group) if scores[refs[i].upload_id] < median - WEAK_MATCH_MARGIN
        ]
    flags.sort(key=lambda flag: [ref.upload_id for ref in refs].index(flag.upload_id))
    level = Level.worst([flag.level for flag in flags])
    low, high = min(in_group), max(in_group)
    others = n - len(group)
    message = (f"{len(group)} of {n} references look like one person (similarity {low:.2f} to {high:.2f})"
               + (f"; {others} {'does' if others == 1 else 'do'} not" if others else ""))
    return scores, Consistency(level.value, message, threshold, pairs), tuple(flags)


# -- what is missing -----------------------------------------------------------------------------

def _missing(usable: int, angles: dict[str, int] | None, distance: Spread, brightness: Spread, direction: Spread,
             person: bool) -> tuple[str, ...]:
    if usable == 0:
        return ("add a usable photo: "
                + ("a sharp, well-lit photo where the face is clearly visible" if person else "a sharp, well-lit photo of the product"),)
    missing = []
    if usable < RECOMMENDED_REFERENCES:
        more = RECOMMENDED_REFERENCES - usable
        missing.append(f"add {more} more usable photo{'s' if more > 1 else ''}: {RECOMMENDED_REFERENCES} or more "
                       "give a steadier likeness")
    if person and angles is not None:
        if not angles["straight_on"]:
            missing.append("add a straight-on photo, looking into the camera")
        for side in ("left", "right"):
            if not angles[f"three_quarter_{side}"]:
                missing.append(f"add a slight three-quarter angle, the head turned towards the {side} of the photo "
                               f"(about {STRAIGHT_ON_MAX_YAW:.0f}-30 degrees)")
    if distance.maximum is not None:
        if person:
            if not distance.counts["close_up"]:
                missing.append(f"add a close-up, the face about half the frame's height (the largest now fills "
                               f"{distance.maximum:.0%})")
            if not distance.counts["head_and_shoulders"] and not distance.counts["wide"]:
                missing.append(f"add a photo from further away, head and shoulders in frame (the smallest face now "
                               f"fills {distance.minimum:.0%} of the frame's height)")
        elif len([count for count in distance.counts.values() if count]) < 2:
            missing.append("add a photo from another distance: a detail, the whole product, or the product in use")
    lit_alike = brightness.spread is not None and brightness.spread < ALIKE_BRIGHTNESS_LEVELS
    one_direction = len([count for count in direction.counts.values() if count]) <= 1
    if usable >= 2 and lit_alike and one_direction:
        missing.append(f"add a photo in different light (outdoors, by a window, another time of day): all are lit "
                       f"alike (brightness {brightness.minimum:.0f}-{brightness.maximum:.0f} of 255)")
    return tuple(missing)
