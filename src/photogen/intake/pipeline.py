"""Intake of one upload: decode at the size the checks need, report, and make clean previews once."""

from __future__ import annotations

from dataclasses import dataclass

from photogen.intake.crop import PresetCrop, plan_preset_crop
from photogen.intake.decode import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DECODED_BYTES,
    DEFAULT_MAX_PIXELS,
    DecodedImage,
    decode_image,
)
from photogen.intake.derivatives import THUMBNAIL_LONG_SIDE, previews_of
from photogen.intake.faces import FaceDetector, default_detector
from photogen.intake.preflight import analysis_pixels, get_use, preflight
from photogen.intake.presets import CropPreset, get_preset
from photogen.intake.report import PreflightReport
from photogen.intake.saliency import subject_box
from photogen.intake.thresholds import ANALYSIS_MIN_DECODE_SIDE


@dataclass(frozen=True)
class IntakeResult:
    decoded: DecodedImage  # possibly reduced (see `decoded.scale`); the original bytes stay untouched
    report: PreflightReport
    previews: dict[int, bytes]  # JPEGs by long side (see derivatives.PREVIEW_SIDES), no metadata

    @property
    def thumbnail(self) -> bytes:
        """The 512-pixel preview (smaller photos: the photo itself)."""
        return self.previews[min(self.previews, key=lambda side: (side < THUMBNAIL_LONG_SIDE, side))]


def intake_photo(
    data: bytes,
    *,
    use: str = "general",
    claimed_type: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES,
    detector: FaceDetector | None = None,
) -> IntakeResult:
    """Everything intake does for one upload. Raises `ImageUnreadable` (with a code) for refused files.

    Large JPEGs decode at 1/2, 1/4 or 1/8 size, other formats are shrunk by an integer factor right after
    decoding: the checks look at 1024 px at most, and generation later decodes the original again at the
    size its crop needs. The previews the reduced pixels allow are made here, once.
    """
    # 1. check the use first: a typo should not cost a decode
    get_use(use)
    # 2. decode, reduced where the file allows
    decoded = decode_image(
        data,
        max_pixels=max_pixels,
        max_bytes=max_bytes,
        max_decoded_bytes=max_decoded_bytes,
        claimed_type=claimed_type,
        min_long_side=ANALYSIS_MIN_DECODE_SIDE,
    )
    # 3. the report and the previews, both from the decoded pixels
    report = preflight(decoded, use, detector=detector)
    previews = previews_of(decoded.image, max(decoded.size))
    return IntakeResult(decoded=decoded, report=report, previews=previews)


def frame_photo(
    decoded: DecodedImage,
    preset: CropPreset | str,
    *,
    native_pixels: int | None = None,
    explicit_size: tuple[int, int] | None = None,
    detector: FaceDetector | None = None,
    multiple: int = 8,
) -> PresetCrop:
    """The preset's crop of this photo, placed on its faces, else its salient subject, else its centre.

    Generation passes its model's `native_pixels` so the plan's output size suits the model; the box is in
    full-size coordinates either way (apply it with `crop.crop_decoded`, or `plan.apply` on a full decode).
    """
    preset = get_preset(preset)
    rgb = analysis_pixels(decoded)
    per_full_pixel = rgb.shape[1] / decoded.size[0]
    faces = []
    if preset.framing != "subject":
        faces = [face.scaled(1.0 / per_full_pixel) for face in (detector or default_detector()).detect(rgb)]
    subject = None
    if not faces:
        found = subject_box(rgb)
        if found is not None:
            subject = (
                round(found[0] / per_full_pixel),
                round(found[1] / per_full_pixel),
                round(found[2] / per_full_pixel),
                round(found[3] / per_full_pixel),
            )
    return plan_preset_crop(
        decoded.size,
        preset,
        faces=faces,
        subject=subject,
        native_pixels=native_pixels,
        explicit_size=explicit_size,
        multiple=multiple,
    )
