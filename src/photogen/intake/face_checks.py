"""The checks made inside the face: what covers it, how it is lit and coloured, whether its skin was smoothed.

Each builder takes analysis pixels and the largest face in analysis coordinates and returns a `Check`, or
None when the face does not allow the measurement (the caller lists it in `report.skipped`).
"""

from __future__ import annotations

import numpy as np

from photogen.intake import face_regions
from photogen.intake import thresholds as t
from photogen.intake.faces import Face
from photogen.intake.report import Check, measured_check
from photogen.intake.thresholds import Level


def face_detail_visible(face: Face) -> bool:
    """Whether the face is large and frontal enough for the template's eye, mouth and skin regions."""
    return face.height >= t.FACE_DETAIL_MIN_HEIGHT and abs(face.yaw_degrees) <= (
        t.FACE_TURN.warn_above or 90.0
    )


def face_occlusion(template: np.ndarray) -> Check:
    """Eyes and mouth against plain skin of the same face: sunglasses, hair, a hand or a mask over them."""
    covered = []
    for feature in face_regions.feature_covers(template):
        what = feature.covered_by(t.OCCLUSION_DARK_SHARE, t.OCCLUSION_MIN_DETAIL)
        if what is not None:
            covered.append((feature.name, what))
    if not covered:
        message = "the eyes and the mouth are visible"
    else:
        message = "; ".join(f"the {name} {'look' if name == 'eyes' else 'looks'} covered by {what}"
                            for name, what in _merged_eyes(covered))  # fmt: skip
        kinds = {what for _, what in covered}
        if kinds == {"something dark"}:
            message += " (sunglasses or hair)"
        elif kinds == {"something plain"}:
            message += " (a hand, a mask or a lock of hair)"
    fixes = {Level.WARN: _occlusion_fix(covered), Level.BLOCK: _occlusion_fix(covered)}
    return measured_check(t.FACE_OCCLUSION, len(covered), message, fixes)


def face_exposure(tone: face_regions.SkinTone) -> Check:
    dark = tone.luma < 128
    message = f"the face's skin has brightness {tone.luma:.0f} of 255"
    clipped = tone.shadows_clipped if dark else tone.highlights_clipped
    if clipped >= 0.01:
        message += f"; {clipped:.0%} of it is pure {'black' if dark else 'white'}"
    fix = (
        "light the face: turn towards a window or lamp, or expose for the face (tap it on a phone)"
        if dark
        else "put less light on the face: avoid direct sun or flash, or expose for the face"
    )
    check = measured_check(t.FACE_EXPOSURE, tone.luma, message, fix)
    if check.level is not Level.OK:
        message = check.message + (": the face is underexposed" if dark else ": the face is overexposed")
        check = Check(check.name, check.level, check.value, check.threshold, message, check.fix)
    return check


def face_colour(tone: face_regions.SkinTone) -> Check:
    distance, hue = face_regions.colour_cast(tone, t.NEUTRAL_SKIN_HUES, t.NEUTRAL_SKIN_CHROMA)
    if distance <= 0.0:
        message = "the skin's colour is in the range of neutral light"
    else:
        message = f"the skin's colour is {distance:.0f} units from neutral skin, towards {hue}"
    check = measured_check(t.FACE_COLOUR, distance, message,
                           "retake in neutral daylight or white light, or correct the white balance before "
                           "uploading")  # fmt: skip
    if check.level is not Level.OK:
        message = f"{hue} light on the face: " + message
        check = Check(check.name, check.level, check.value, check.threshold, message, check.fix)
    return check


def skin_smoothing(gray: np.ndarray, face: Face) -> Check | None:
    ratio = face_regions.skin_texture_ratio(gray, face)
    if ratio is None:
        return None
    message = f"the skin keeps {ratio:.2f} times the fine texture of the rest of the photo"
    if ratio < (t.SKIN_SMOOTHING.warn_below or 0.0):
        message = "the skin looks smoothed by a beauty filter: " + message
    return measured_check(t.SKIN_SMOOTHING, ratio, message,
                          "upload the photo without a beauty filter or skin smoothing; generation copies the "
                          "plastic look")  # fmt: skip


def _merged_eyes(covered: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Both eyes covered by the same kind of thing read as 'the eyes'."""
    eyes = [(name, what) for name, what in covered if name.endswith("eye")]
    if len(eyes) == 2 and eyes[0][1] == eyes[1][1]:
        return [("eyes", eyes[0][1])] + [(name, what) for name, what in covered if not name.endswith("eye")]
    return covered


def _occlusion_fix(covered: list[tuple[str, str]]) -> str:
    names = {name for name, _ in covered}
    if names and all(name.endswith("eye") for name in names):
        return "choose a photo without sunglasses, with the hair away from the eyes"
    if names == {"mouth"}:
        return "choose a photo with nothing over the mouth (no hand, mask or hair)"
    return "choose a photo where nothing covers the eyes or the mouth"
