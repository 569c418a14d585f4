"""How much work a request asks for, in pixel-steps, and the limit one request may not pass.

Pixel-steps are output width x height x images x denoising steps (the steps that run): the UNet's work grows
with each of them. The output size is the explicit width and height, else the model's native pixel count,
which is what a crop is sized to; an upscale with the tiled refine counts its output size times its refine
steps. Requests over the limit are refused when they are submitted, before they can hold the worker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from photogen.domain.errors import InvalidRequest
from photogen.domain.params import GenerationRequest, denoising_steps


class WorkLimit:
    """`native_pixels(model)` gives a model's native pixel count (it may load the model, once)."""

    def __init__(self, max_pixel_steps: int, native_pixels: Callable[[str], int]) -> None:
        self.max_pixel_steps = max_pixel_steps
        self._native_pixels = native_pixels

    def generation_work(self, request: GenerationRequest) -> int:
        if request.width and request.height:
            pixels = request.width * request.height
        else:
            pixels = self._native_pixels(request.model)
        return pixels * request.num_images * request.denoising_steps

    def check_generations(self, requests: Sequence[GenerationRequest]) -> None:
        """One request, or a sweep's variants together."""
        work = sum(self.generation_work(request) for request in requests)
        images = sum(request.num_images for request in requests)
        self._check(work, f"{images} image(s)")

    def check_upscale(self, size: tuple[int, int], spec: dict) -> None:
        """An upscale of a `size` asset: only the tiled refine runs the model."""
        from photogen.engines.upscalers.tiled_refine import DEFAULT_REFINE_IMAGE_STRENGTH, DEFAULT_REFINE_STEPS

        if spec.get("method") not in ("auto", "tiled_refine") or not spec.get("model"):
            return
        steps = denoising_steps(DEFAULT_REFINE_STEPS, DEFAULT_REFINE_IMAGE_STRENGTH)
        factor = int(spec["factor"])
        self._check(size[0] * factor * size[1] * factor * steps, f"a x{factor} tiled refine")

    def _check(self, work: int, what: str) -> None:
        if work > self.max_pixel_steps:
            raise InvalidRequest(
                f"this request asks for {work:,} pixel-steps ({what}; width x height x images x denoising "
                f"steps), over the limit of {self.max_pixel_steps:,} per request",
                hint="ask for fewer images, fewer steps or a smaller size, or split the request "
                "(the limit is PHOTOGEN_MAX_WORK_PER_REQUEST)",
            )
