"""The preflight report: measure a decoded photo for one use and say, check by check, what to fix.

Runs on the CPU in tens of milliseconds, before any GPU time is spent. Every limit comes from
`thresholds.py`; this module measures, compares and words the findings.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from photogen.domain.errors import InvalidRequest
from photogen.intake import edit_checks, face_checks, face_regions, measures
from photogen.intake import thresholds as t
from photogen.intake.crop import PresetCrop, plan_preset_crop
from photogen.intake.decode import DecodedImage
from photogen.intake.faces import Face, FaceDetector, default_detector, largest_faces
from photogen.intake.presets import get_preset
from photogen.intake.report import Check, PreflightReport, SourceSummary, measured_check
from photogen.intake.saliency import subject_box
from photogen.intake.thresholds import Level

BLOCKINESS_SAMPLE = 768  # blockiness is measured on a centre crop of the decoded pixels this size at most


def get_use(name: str) -> t.UseProfile:
    key = t.USE_ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in t.USES:
        raise InvalidRequest(
            f"unknown use {name!r}", hint="use one of " + ", ".join(t.USES), code="unknown_use"
        )
    return t.USES[key]


def analysis_pixels(decoded: DecodedImage) -> np.ndarray:
    """RGB uint8 pixels with the long side at most ANALYSIS_LONG_SIDE: what the checks measure."""
    import cv2

    rgb = np.asarray(decoded.image)
    long_side = max(rgb.shape[:2])
    if long_side <= t.ANALYSIS_LONG_SIDE:
        return rgb
    factor = t.ANALYSIS_LONG_SIDE / long_side
    size = (max(1, round(rgb.shape[1] * factor)), max(1, round(rgb.shape[0] * factor)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def preflight(
    decoded: DecodedImage, use: str = "general", *, detector: FaceDetector | None = None
) -> PreflightReport:
    """Every check for `use` on `decoded`; faces and the crop come back in full-size coordinates."""
    # 1. the use and the pixels to measure
    profile = get_use(use)
    rgb = analysis_pixels(decoded)
    per_full_pixel = rgb.shape[1] / decoded.size[0]  # analysis pixels per full-size pixel
    source = SourceSummary(
        format=decoded.format,
        size=decoded.size,
        megapixels=decoded.megapixels,
        sha256=decoded.sha256,
        byte_count=decoded.byte_count,
        analysed_size=(rgb.shape[1], rgb.shape[0]),
        jpeg_quality=decoded.jpeg_quality,
        conversions=decoded.conversions,
    )
    checks = [_resolution(decoded)]
    animated = edit_checks.animation(decoded)
    if animated is not None:
        checks.append(animated)
    if min(rgb.shape[:2]) < t.MIN_MEASURABLE_SIDE:
        return PreflightReport(profile.name, source, decoded.metadata, tuple(checks),
                               skipped=("every pixel check: the photo is too small to measure",))  # fmt: skip
    gray = measures.luma(rgb)
    skipped: list[str] = []

    # 2. faces, in full-size coordinates
    faces: list[Face] = []
    if profile.face_checks or profile.needs_face:
        found = (detector or default_detector()).detect(rgb)
        faces = [face.scaled(1.0 / per_full_pixel) for face in found]

    # 3. the subject when there is no face, and the crop the use's preset would make
    subject: tuple[int, int, int, int] | None = None  # analysis pixels
    preset = get_preset(profile.preset) if profile.preset is not None else None
    if not faces or (preset is not None and preset.framing == "subject"):
        subject = subject_box(rgb)
    crop: PresetCrop | None = None
    if preset is not None:
        in_full = tuple(round(value / per_full_pixel) for value in subject) if subject else None
        crop = plan_preset_crop(decoded.size, preset, faces=faces, subject=in_full)  # type: ignore[arg-type]
        checks.append(_crop_fill(crop))

    # 4. whole-photo checks
    checks.append(_sharpness(gray))
    light = measures.exposure(gray)
    checks += [_exposure(light), _contrast(light)]
    region, region_name = _subject_region(gray, faces[0].scaled(per_full_pixel) if faces else None, subject)
    checks += _clipping(measures.exposure(region), region_name)
    checks.append(_noise(gray))
    if decoded.jpeg_quality is not None:
        checks.append(_compression(decoded.jpeg_quality))
    blocks = _blockiness(decoded)
    if blocks is None:
        skipped.append("blockiness: measured only on pixels decoded at full or half size")
    else:
        checks.append(blocks)
    checks.append(_screenshot(decoded, gray))
    checks += [edit_checks.effective_resolution(decoded), edit_checks.sharpening_halos(gray),
               edit_checks.saturation(rgb)]  # fmt: skip

    # 5. face checks
    if profile.face_checks or profile.needs_face:
        checks.append(_face_count(faces, profile))
    if faces and profile.face_checks:
        face = faces[0]
        face_in_analysis = face.scaled(per_full_pixel)
        face_checks = [
            _face_sharpness(gray, face_in_analysis),
            _backlight(gray, face_in_analysis),
            _face_size(face, decoded.size, close_ups_ok=profile.preset is None),
            _face_resolution(face),
            _face_cutoff(face, decoded.size),
            _face_tilt(face),
            _face_turn(face),
            *_face_detail_checks(rgb, gray, face_in_analysis, skipped),
        ]
        for check in face_checks:
            if check is None:
                continue
            if not profile.strict_faces and check.level is Level.BLOCK:
                check = replace(check, level=Level.WARN)
            checks.append(check)
    elif profile.face_checks:
        skipped.append(
            "face sharpness, backlight, size, cut-off, tilt, turn, occlusion, exposure, colour and "
            "skin smoothing: no face found"
        )
    return PreflightReport(
        use=profile.name,
        source=source,
        metadata=decoded.metadata,
        checks=tuple(checks),
        faces=tuple(faces),
        crop=crop,
        skipped=tuple(skipped),
    )


def _face_detail_checks(
    rgb: np.ndarray, gray: np.ndarray, face: Face, skipped: list[str]
) -> list[Check | None]:
    """Exposure and colour of the face's skin; occlusion and smoothing where the face is large and frontal."""
    template = face_regions.aligned_face(rgb, face)
    if template is None:
        skipped.append(
            "face occlusion, exposure, colour and skin smoothing: the landmarks do not place the face"
        )
        return []
    tone = face_regions.skin_tone(template)
    checks: list[Check | None] = [face_checks.face_exposure(tone)]
    if _is_monochrome(rgb):
        skipped.append("face colour: the photo is black and white")
    else:
        checks.append(face_checks.face_colour(tone))
    if not face_checks.face_detail_visible(face):
        skipped.append("face occlusion and skin smoothing: the face is too small or turned too far to judge")
        return checks
    checks.append(face_checks.face_occlusion(template))
    if tone.luma < (t.FACE_EXPOSURE.warn_below or 0.0):
        skipped.append("skin smoothing: the face is too dark to judge its texture")
    else:
        checks.append(face_checks.skin_smoothing(gray, face))
    return checks


def _is_monochrome(rgb: np.ndarray) -> bool:
    import cv2

    small = cv2.resize(
        rgb, (max(1, rgb.shape[1] // 8), max(1, rgb.shape[0] // 8)), interpolation=cv2.INTER_AREA
    )
    sample = small.astype(np.int16)  # averaged over 8x8 pixels, so colour noise does not count as colour
    spread = sample.max(axis=2) - sample.min(axis=2)
    return float(np.percentile(spread, 95)) < t.MONOCHROME_SPREAD


def _resolution(decoded: DecodedImage) -> Check:
    width, height = decoded.size
    return measured_check(
        t.RESOLUTION, min(width, height), f"{width}x{height} px ({decoded.megapixels:.1f} MP)",
        "use the original photo from the camera or phone, not a copy from a messenger or social network",
    )  # fmt: skip


def _crop_fill(crop: PresetCrop) -> Check:
    left, top, right, bottom = crop.plan.box
    target_w, target_h = crop.target_size
    return measured_check(
        t.CROP_FILL, crop.upscale,
        f"the {crop.preset} crop is {right - left}x{bottom - top} px of the photo; the preset is "
        f"{target_w}x{target_h}",
        {Level.WARN: f"use a larger original, or the upscale pass will enlarge the crop x{crop.upscale:.1f}",
         Level.BLOCK: "use a much larger original: this crop would need more than a x4 enlargement"},
    )  # fmt: skip


def _sharpness(gray: np.ndarray) -> Check:
    value = measures.laplacian_variance(gray)
    words = "sharp" if value >= t.SHARPNESS.warn_below else "soft or blurred"  # type: ignore[operator]
    return measured_check(t.SHARPNESS, value, f"the photo looks {words}",
                  "retake it holding still with the subject in focus; avoid digital zoom")  # fmt: skip


def _exposure(light: measures.Exposure) -> Check:
    dark = light.mean < 128
    fix = ("retake in brighter light, or brighten the photo before uploading" if dark
           else "retake with less light on the subject, or lower the exposure")  # fmt: skip
    check = measured_check(t.EXPOSURE, light.mean, f"average brightness {light.mean:.0f} of 255", fix)
    if check.level is not Level.OK:
        check = replace(check, message=check.message + (": too dark" if dark else ": too bright"))
    return check


def _contrast(light: measures.Exposure) -> Check:
    return measured_check(t.CONTRAST, light.contrast, f"tones span {light.contrast:.0f} of 255 levels",
                  "the photo looks flat or hazy: retake in clearer light or add contrast")  # fmt: skip


def _subject_region(
    gray: np.ndarray, face: Face | None, subject: tuple[int, int, int, int] | None
) -> tuple[np.ndarray, str]:
    """The pixels clipping is judged on: the face, else the salient subject, else the whole photo.

    A white studio backdrop or a blown-out sky behind the subject is a choice; a blown-out face is not.
    """
    if face is not None:
        region = measures.crop_region(gray, face.box)
        if region is not None:
            return region, "the face"
    if subject is not None:
        left, top, right, bottom = subject
        region = measures.crop_region(gray, (left, top, right - left, bottom - top))
        if region is not None:
            return region, "the subject"
    return gray, "the photo"


def _clipping(light: measures.Exposure, where: str) -> list[Check]:
    return [
        measured_check(t.CLIPPED_SHADOWS, light.shadows_clipped, f"{light.shadows_clipped:.1%} of {where} is pure black",
               "the shadows have lost their detail: add light on the subject or use a better-exposed shot"),
        measured_check(t.CLIPPED_HIGHLIGHTS, light.highlights_clipped,
               f"{light.highlights_clipped:.1%} of {where} is pure white",
               "bright parts are blown out: avoid direct sun or flash on the subject"),
    ]  # fmt: skip


def _noise(gray: np.ndarray) -> Check:
    value = measures.noise_sigma(gray)
    return measured_check(t.NOISE, value, f"estimated noise {value:.1f} levels",
                  "retake in more light (a lower ISO); grainy photos give grainy results")  # fmt: skip


def _compression(quality: int) -> Check:
    return measured_check(t.COMPRESSION, quality, f"saved at JPEG quality about {quality}",
                  "upload the original file: this copy has been heavily compressed")  # fmt: skip


def _blockiness(decoded: DecodedImage) -> Check | None:
    period = {1.0: 8, 0.5: 4}.get(decoded.scale)
    if period is None:
        return None
    pixels = np.asarray(decoded.image)
    height, width = pixels.shape[:2]
    side = min(BLOCKINESS_SAMPLE, height, width)
    top, left = (height - side) // 2, (width - side) // 2
    value = measures.blockiness(
        measures.luma(np.ascontiguousarray(pixels[top : top + side, left : left + side])), period
    )
    return measured_check(t.BLOCKINESS, value, f"JPEG block edges {value:.2f}x stronger than other pixel steps",
                  "upload the original: this copy shows block artefacts from heavy or repeated JPEG saving")  # fmt: skip


def _screenshot(decoded: DecodedImage, gray: np.ndarray) -> Check:
    width, height = decoded.size
    camera = decoded.metadata.has_camera_data
    hints = []
    if (width, height) in t.SCREEN_SIZES or (height, width) in t.SCREEN_SIZES:
        hints.append(f"{width}x{height} is a screen size")
    share = measures.flat_border_share(gray)
    if share >= t.FLAT_BORDER_SHARE:
        hints.append(f"flat bars along the edges ({share:.0%} of the frame)")
    if not camera:
        hints.append("no camera data")
        if decoded.jpeg_quality is not None and decoded.jpeg_quality <= t.RESHARE_MAX_QUALITY:
            hints.append(f"recompressed at quality {decoded.jpeg_quality}")
        if max(width, height) in t.RESHARE_LONG_SIDES:
            hints.append(f"{max(width, height)} px long side, a size messengers and social networks use")
    message = "; ".join(hints) if hints else "looks like a camera photo"
    return measured_check(t.SCREENSHOT, len(hints), message,
                  "upload the photo itself, not a screenshot or a copy saved from social media")  # fmt: skip


def _face_count(faces: list[Face], profile: t.UseProfile) -> Check:
    people = largest_faces(faces)
    if not profile.needs_face:
        return Check("face_count", Level.OK, len(faces), t.FACES_FOUND, f"{len(faces)} face(s) found")
    fixes = {Level.BLOCK: "choose a photo where the face is clearly visible and facing the camera",
             Level.WARN: "choose a photo of just this person; the crop centres on the largest face"}  # fmt: skip
    message = "no face found" if not faces else f"{len(people)} prominent face(s) of {len(faces)} found"
    return measured_check(t.FACE_COUNT, len(people), message, fixes)


def _face_sharpness(gray: np.ndarray, face: Face) -> Check | None:
    value = measures.region_sharpness(gray, face.box)
    if value is None:
        return None
    return measured_check(t.FACE_SHARPNESS, value, f"face detail {value:.0f}",
                  "retake with the camera focused on the eyes, holding still")  # fmt: skip


def _backlight(gray: np.ndarray, face: Face) -> Check | None:
    value = measures.backlight_stops(gray, face.box)
    if value is None:
        return None
    words = (
        f"the face is {value:.1f} stops darker than the background" if value > 0 else "the face is well lit"
    )
    return measured_check(t.BACKLIGHT, value, words,
                  "turn the person towards the light, or put the window or sun behind the camera")  # fmt: skip


def _face_size(face: Face, size: tuple[int, int], *, close_ups_ok: bool) -> Check:
    """Small faces warn for every use; close-ups only where a preset needs room for head and shoulders."""
    share = face.height / size[1]
    close = t.FACE_SIZE.warn_above is not None and share > t.FACE_SIZE.warn_above
    fix = (
        "step back so the head and shoulders fit in the frame"
        if close
        else "move closer, or choose a photo where the person fills more of the frame"
    )
    check = measured_check(t.FACE_SIZE, share, f"the face is {share:.0%} of the photo's height", fix)
    if close and close_ups_ok:
        check = replace(check, level=Level.OK, fix="")
    return check


def _face_resolution(face: Face) -> Check:
    return measured_check(t.FACE_RESOLUTION, face.height, f"the face is {face.height:.0f} px tall",
                  "use a photo where the face is larger, or the full-resolution original")  # fmt: skip


def _face_cutoff(face: Face, size: tuple[int, int]) -> Check:
    x, y, w, h = face.full_box()
    head = (x - 0.1 * w, y - 0.4 * h, x + 1.1 * w, y + 1.1 * h)
    inside_w = max(0.0, min(head[2], size[0]) - max(head[0], 0.0))
    inside_h = max(0.0, min(head[3], size[1]) - max(head[1], 0.0))
    outside = 1.0 - inside_w * inside_h / ((head[2] - head[0]) * (head[3] - head[1]))
    message = (
        f"{outside:.0%} of the head is outside the frame" if outside > 0 else "the whole head is in frame"
    )
    return measured_check(
        t.FACE_CUTOFF, outside, message, "use a photo where the whole head is inside the frame"
    )


def _face_tilt(face: Face) -> Check:
    roll = abs(face.roll_degrees)
    return measured_check(t.FACE_TILT, roll, f"the head is tilted {roll:.0f} degrees",
                  "hold the head level, or straighten the photo before uploading")  # fmt: skip


def _face_turn(face: Face) -> Check:
    yaw = abs(face.yaw_degrees)
    return measured_check(t.FACE_TURN, yaw, f"the head is turned about {yaw:.0f} degrees from the camera",
                  "choose a photo where the person looks towards the camera")  # fmt: skip
