"""Plain Lanczos resampling: no model, always available, the fallback."""

from __future__ import annotations

from typing import Any

from PIL import Image

from photogen.engines.upscalers.base import UpscaleProgress, as_rgb, check_factor, report, target_size


class LanczosUpscaler:
    """Pillow's Lanczos filter. Adds no detail, only pixels: enough for a print at a lower DPI."""

    name = "lanczos"

    def record(self) -> dict[str, Any]:
        return {"upscaler": self.name}

    def upscale(
        self, image: Image.Image, factor: int, on_progress: UpscaleProgress | None = None
    ) -> Image.Image:
        factor = check_factor(factor)
        source = as_rgb(image)
        output = source.resize(target_size(source, factor), Image.Resampling.LANCZOS)
        report(on_progress, 1, 1)
        return output
