"""The upscaler port: what an upscale pass needs from any backend, and the checks they share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from PIL import Image

from photogen.domain.errors import InvalidRequest, PhotogenError

# Called as the pass goes with (units done, units in all): tiles for the tiled passes.
UpscaleProgress = Callable[[int, int], None]

UPSCALE_FACTORS = (2, 4)
MAX_OUTPUT_PIXELS = 8192 * 8192


class Upscaler(Protocol):
    """Enlarges an RGB image by an exact whole factor."""

    name: str

    def record(self) -> dict[str, Any]:
        """What an upscaled asset records about the pass that made it (backend and its settings)."""
        ...

    def upscale(
        self, image: Image.Image, factor: int, on_progress: UpscaleProgress | None = None
    ) -> Image.Image:
        """The image `factor` times as wide and as high, exactly, in RGB."""
        ...


def check_factor(factor: int) -> int:
    if isinstance(factor, bool) or factor not in UPSCALE_FACTORS:
        raise InvalidRequest(
            f"upscale factor {factor!r} is not supported",
            hint=f"use one of: {', '.join(map(str, UPSCALE_FACTORS))}",
        )
    return int(factor)


def target_size(image: Image.Image, factor: int) -> tuple[int, int]:
    """The output size of `image` enlarged `factor` times, checked against the output limit."""
    width, height = image.width * factor, image.height * factor
    if width * height > MAX_OUTPUT_PIXELS:
        raise InvalidRequest(
            f"x{factor} of a {image.width}x{image.height} image is {width}x{height}, over the "
            f"{MAX_OUTPUT_PIXELS // 1_000_000} MP an upscale may make",
            hint="crop the image first, or use a smaller factor",
        )
    return width, height


def as_rgb(image: Image.Image) -> Image.Image:
    """The one pixel convention inside: PIL RGB (palette, gray and alpha images are converted)."""
    if not isinstance(image, Image.Image):
        raise InvalidRequest(f"expected a PIL image, got {type(image).__name__}")
    return image if image.mode == "RGB" else image.convert("RGB")


def report(on_progress: UpscaleProgress | None, done: int, total: int) -> None:
    if on_progress is not None:
        on_progress(done, total)


def unavailable(message: str, hint: str) -> PhotogenError:
    """The error for an upscaler whose package or libraries are not installed."""
    return PhotogenError(message, hint=hint, code="upscaler_unavailable")
