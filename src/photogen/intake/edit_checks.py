"""The checks for what editing or re-sharing did to a photo: sharpening halos, pushed saturation, enlargement
from a smaller copy, and an animation reduced to its first frame.
"""

from __future__ import annotations

import numpy as np

from photogen.intake import editing_traces, measures
from photogen.intake import thresholds as t
from photogen.intake.decode import DecodedImage
from photogen.intake.report import Check, measured_check

RESOLUTION_SAMPLE = 1024  # enlargement is measured on a centre crop of the decoded pixels this size at most


def sharpening_halos(gray: np.ndarray) -> Check:
    value = editing_traces.sharpening_halos(gray)
    message = f"edges overshoot by {value:.0%} of their step on both sides"
    if value > (t.SHARPENING_HALOS.warn_above or 1.0):
        message = "bright and dark halos along edges (over-sharpened): " + message
    return measured_check(t.SHARPENING_HALOS, value, message,
                          "upload the photo before sharpening or 'clarity' filters were applied")  # fmt: skip


def saturation(rgb: np.ndarray) -> Check:
    value = editing_traces.gamut_edge_share(rgb)
    message = f"{value:.1%} of the photo is colour pushed to the edge of what the file can hold"
    if value > (t.SATURATION.warn_above or 1.0):
        message = "colours look boosted by a filter: " + message
    return measured_check(t.SATURATION, value, message,
                          "upload the photo without a saturation or vivid filter")  # fmt: skip


def effective_resolution(decoded: DecodedImage) -> Check:
    """Enlargement measured on the decoded pixels themselves (never on intake's own resized copy)."""
    pixels = np.asarray(decoded.image)
    height, width = pixels.shape[:2]
    top, left = max(0, (height - RESOLUTION_SAMPLE) // 2), max(0, (width - RESOLUTION_SAMPLE) // 2)
    crop = np.ascontiguousarray(pixels[top : top + RESOLUTION_SAMPLE, left : left + RESOLUTION_SAMPLE])
    found = editing_traces.enlargement(measures.luma(crop))
    factor = found.factor / decoded.scale if found.evidence else 1.0  # in full-size pixels
    full_w, full_h = decoded.size
    if not found.evidence:
        message = "the detail matches the pixel size"
    else:
        true_w, true_h = round(full_w / factor), round(full_h / factor)
        cause = ("enlarged from a smaller copy (pixels repeat)" if found.evidence == "repeated pixels"
                 else "enlarged from a smaller copy, or blurred")  # fmt: skip
        message = (
            f"the detail is that of a photo about {true_w}x{true_h} px, shown at {full_w}x{full_h}: {cause}"
        )
    return measured_check(t.EFFECTIVE_RESOLUTION, factor, message,
                          "upload the original photo, not an enlarged copy of a thumbnail or a download")  # fmt: skip


def animation(decoded: DecodedImage) -> Check | None:
    if decoded.frame_count <= 1:
        return None
    return measured_check(
        t.ANIMATION, decoded.frame_count,
        f"an animated {decoded.format} of {decoded.frame_count} frames: the first frame is used",
        "if the first frame is not the photo you meant, export the frame you want as a JPEG or PNG",
    )  # fmt: skip
