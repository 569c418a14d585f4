"""Structure similarity: does an output keep its source's layout, edges and shading?

SSIM (Wang, Bovik, Sheikh and Simoncelli, 2004) on Rec. 601 luma, with the paper's settings: an 11-tap
Gaussian window of sigma 1.5, K1 = 0.01, K2 = 0.03, population (co)variances, and the mean taken away from
a border of half a window. It agrees with scikit-image's `structural_similarity(gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=255)`.

Both images are first brought to one fixed working size (256 px on the source's long side), so scores of
outputs of any size can be compared, and SSIM measures layout rather than fine texture.
"""

from __future__ import annotations

import numpy as np

from photogen.domain.errors import InvalidRequest

STRUCTURE_LONG_SIDE = 256
SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # the window is 2 * radius + 1 = 11 taps: sigma 1.5 cut at 3.5 sigma
SSIM_K1, SSIM_K2 = 0.01, 0.03
MAX_RATIO_MISMATCH = 0.05  # outputs sized to multiples of 8 differ from their crop's ratio by a few percent


def structure_similarity(
    source_rgb: np.ndarray, output_rgb: np.ndarray, *, long_side: int = STRUCTURE_LONG_SIDE
) -> float:
    """SSIM of two RGB uint8 images of about the same aspect ratio, at the working size; 1.0 when equal."""
    return StructureSource(source_rgb, long_side).similarity(output_rgb)


class StructureSource:
    """The source's half of SSIM, computed once: its luma at the working size with the local mean and variance.
    Every output of a batch is compared with it, and a worker can make it before the outputs exist."""

    def __init__(self, source_rgb: np.ndarray, long_side: int = STRUCTURE_LONG_SIDE) -> None:
        _check_rgb("source", source_rgb)
        height, width = source_rgb.shape[:2]
        factor = long_side / max(height, width)
        self.size = (max(1, round(width * factor)), max(1, round(height * factor)))
        if min(self.size) < 2 * SSIM_RADIUS + 1:
            raise InvalidRequest(
                f"a {width}x{height} image is too narrow to compare at {long_side} px on its long side",
                hint=f"both sides must come to at least {2 * SSIM_RADIUS + 1} px",
            )
        self.shape = source_rgb.shape
        self.luma = _working_luma(source_rgb, self.size)
        self.mean = _local_mean(self.luma)
        self.variance = _local_mean(self.luma * self.luma) - self.mean * self.mean

    def working_luma(self, output_rgb: np.ndarray) -> np.ndarray:
        """An output as luma at the source's working size (refused when its shape is not the source's)."""
        _check_rgb("output", output_rgb)
        source_ratio = self.shape[1] / self.shape[0]
        output_ratio = output_rgb.shape[1] / output_rgb.shape[0]
        if abs(output_ratio / source_ratio - 1.0) > MAX_RATIO_MISMATCH:
            raise InvalidRequest(
                f"the images have different shapes ({self.shape[1]}x{self.shape[0]} and "
                f"{output_rgb.shape[1]}x{output_rgb.shape[0]}), so their structure cannot be compared",
                hint="compare an output with the crop it was made from",
            )
        return _working_luma(output_rgb, self.size)

    def similarity(self, output_rgb: np.ndarray) -> float:
        other = self.working_luma(output_rgb)
        return _ssim(self.luma, self.mean, self.variance, other)


def working_pair(
    source_rgb: np.ndarray, output_rgb: np.ndarray, long_side: int
) -> tuple[np.ndarray, np.ndarray]:
    """Both images as luma at the working size: `long_side` on the source's long side, its aspect ratio."""
    source = StructureSource(source_rgb, long_side)
    return source.luma, source.working_luma(output_rgb)


def ssim(first: np.ndarray, second: np.ndarray, data_range: float = 255.0) -> float:
    """Mean SSIM of two grayscale arrays of the same shape (float or uint8, values 0..data_range)."""
    if first.shape != second.shape or first.ndim != 2:
        raise InvalidRequest(f"SSIM needs two 2-D arrays of one shape, got {first.shape} and {second.shape}")
    a = first.astype(np.float64)
    mean_a = _local_mean(a)
    return _ssim(a, mean_a, _local_mean(a * a) - mean_a * mean_a, second, data_range)


def _check_rgb(name: str, rgb: np.ndarray) -> None:
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InvalidRequest(f"the {name} must be RGB uint8 pixels (HxWx3), got {rgb.dtype} {rgb.shape}")


def _working_luma(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if (gray.shape[1], gray.shape[0]) != size:
        shrinking = gray.shape[0] * gray.shape[1] > size[0] * size[1]
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
    return gray.astype(np.float64)


def _local_mean(values: np.ndarray) -> np.ndarray:
    import cv2

    window = (2 * SSIM_RADIUS + 1, 2 * SSIM_RADIUS + 1)
    return cv2.GaussianBlur(values, window, SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)


def _ssim(a: np.ndarray, mean_a: np.ndarray, var_a: np.ndarray, second: np.ndarray,
          data_range: float = 255.0) -> float:
    """SSIM of `a` (with its local mean and variance) and `second`."""
    b = second.astype(np.float64)
    mean_b = _local_mean(b)
    var_b = _local_mean(b * b) - mean_b * mean_b
    covariance = _local_mean(a * b) - mean_a * mean_b
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    index = ((2 * mean_a * mean_b + c1) * (2 * covariance + c2)) / (
        (mean_a * mean_a + mean_b * mean_b + c1) * (var_a + var_b + c2)
    )
    inner = index[SSIM_RADIUS:-SSIM_RADIUS, SSIM_RADIUS:-SSIM_RADIUS]
    return float(inner.mean())
