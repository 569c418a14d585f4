"""Where the subject is when there is no face: a box around the salient region of the photo.

Two cues, chosen by the photo:
- On a plain backdrop (the frame's border is one colour, as in most product shots) the subject is what
  differs from that colour, measured in CIELAB.
- Otherwise, the spectral residual of the log spectrum (Hou and Zhang, CVPR 2007) marks what stands out,
  weighted towards the centre where photographers put subjects (without that weight, bright lights at the
  edge of scikit-image's rocket photo won over the rocket).
"""

from __future__ import annotations

import numpy as np

WORK_LONG_SIDE = 256  # saliency is computed on a copy this size
PLAIN_BORDER_SPREAD = 6.0  # median CIELAB distance of border pixels from their median colour
MIN_SUBJECT_SHARE = 0.005  # smaller salient regions are treated as no subject
CENTRE_SPREAD = 0.3  # standard deviation of the centre weight, as a share of width and height


def subject_box(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) of the salient subject in `rgb`'s pixels, or None when nothing stands out."""
    import cv2

    height, width = rgb.shape[:2]
    if min(height, width) < 16:
        return None
    factor = min(1.0, WORK_LONG_SIDE / max(height, width))
    small = cv2.resize(
        rgb, (max(1, round(width * factor)), max(1, round(height * factor))), interpolation=cv2.INTER_AREA
    )
    mask = _backdrop_mask(small)
    if mask is None:
        mask = _spectral_residual_mask(small)
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    box = _main_regions_box(mask)
    if box is None:
        return None
    sx, sy = width / small.shape[1], height / small.shape[0]
    left, top, right, bottom = box
    return (
        int(max(0, np.floor(left * sx))),
        int(max(0, np.floor(top * sy))),
        int(min(width, np.ceil(right * sx))),
        int(min(height, np.ceil(bottom * sy))),
    )


def _backdrop_mask(small: np.ndarray) -> np.ndarray | None:
    """Pixels unlike a plain border colour, or None when the border is not plain."""
    import cv2

    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    band = max(2, round(0.04 * min(small.shape[:2])))
    border = np.concatenate(
        [
            lab[:band].reshape(-1, 3),
            lab[-band:].reshape(-1, 3),
            lab[:, :band].reshape(-1, 3),
            lab[:, -band:].reshape(-1, 3),
        ]
    )
    backdrop = np.median(border, axis=0)
    spread = float(np.median(np.linalg.norm(border - backdrop, axis=1)))
    if spread > PLAIN_BORDER_SPREAD:
        return None
    distance = np.linalg.norm(lab - backdrop, axis=2)
    return distance > max(12.0, 3.0 * spread + 6.0)


def _spectral_residual_mask(small: np.ndarray) -> np.ndarray:
    import cv2

    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    scale = 64.0 / max(gray.shape)
    tiny = cv2.resize(gray, (max(8, round(gray.shape[1] * scale)), max(8, round(gray.shape[0] * scale))),
                      interpolation=cv2.INTER_AREA)  # fmt: skip
    spectrum = np.fft.fft2(tiny)
    log_amplitude = np.log(np.abs(spectrum) + 1e-6)
    residual = log_amplitude - cv2.blur(log_amplitude, (3, 3), borderType=cv2.BORDER_REPLICATE)
    saliency = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    saliency = cv2.GaussianBlur(saliency.astype(np.float32), (0, 0), 2.5)
    rows, cols = np.mgrid[0 : saliency.shape[0], 0 : saliency.shape[1]].astype(np.float32)
    across = (cols - (saliency.shape[1] - 1) / 2) / (CENTRE_SPREAD * saliency.shape[1])
    down = (rows - (saliency.shape[0] - 1) / 2) / (CENTRE_SPREAD * saliency.shape[0])
    saliency *= np.exp(-(across**2 + down**2) / 2)
    saliency = cv2.resize(saliency, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_LINEAR)
    return saliency > 2.0 * float(saliency.mean())


def _main_regions_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """The box around the largest connected region and every region at least a fifth its size."""
    import cv2

    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    if areas.max() < MIN_SUBJECT_SHARE * mask.size:
        return None
    keep = stats[1:][areas >= 0.2 * areas.max()]
    left = int(keep[:, cv2.CC_STAT_LEFT].min())
    top = int(keep[:, cv2.CC_STAT_TOP].min())
    right = int((keep[:, cv2.CC_STAT_LEFT] + keep[:, cv2.CC_STAT_WIDTH]).max())
    bottom = int((keep[:, cv2.CC_STAT_TOP] + keep[:, cv2.CC_STAT_HEIGHT]).max())
    return left, top, right, bottom
