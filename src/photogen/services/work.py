"""How much work a request asks for, in pixel-steps, and the limit one request may not pass.

Pixel-steps are output width x height x images x denoising steps (the steps that run): the UNet's work grows
with each of them. The output size is the explicit width and height, else the model's native pixel count,
which is what a crop is sized to; an upscale with the tiled refine counts its output size times its refine
steps. Requests over the limit are refused when they are submitted, before they can hold the worker.

Submission never loads a model (that could mean a download in a request): a request without an explicit
size whose model is not loaded yet is checked by the worker, on the crop's exact size, before it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from photogen.domain.errors import InvalidRequest
from photogen.domain.params import GenerationRequest, denoising_steps


class WorkLimit:
    """`native_pixels(model)` gives a loaded model's native pixel count, None when it is not loaded."""

    def __init__(self, max_pixel_steps: int, native_pixels: Callable[[str], int | None]) -> None:
        self.max_pixel_steps = max_pixel_steps
        self._native_pixels = native_pixels

    def generation_work(self, request: GenerationRequest, size: tuple[int, int] | None = None) -> int | None:
        """Pixel-steps of one request at `size` (else its explicit or native size); None if not known yet."""
        if size is None and request.width and request.height:
            size = (request.width, request.height)
        pixels = size[0] * size[1] if size is not None else self._native_pixels(request.model)
        return None if pixels is None else pixels * request.num_images * request.denoising_steps

    def check_generations(self, requests: Sequence[GenerationRequest], size: tuple[int, int] | None = None) -> None:
        """One request, or a sweep's variants together (at `size` once the crop is planned)."""
        works = [self.generation_work(request, size) for request in requests]
        if None in works:
            return  # the worker checks it on the planned crop
        images = sum(request.num_images for request in requests)
        self._check(sum(works), f"{images} image(s)")

    def check_upscale(self, size: tuple[int, int], spec: dict) -> None:
        """An upscale of a `size` asset: only the tiled refine runs the model."""
        from photogen.engines.upscalers.tiled_refine import DEFAULT_REFINE_IMAGE_STRENGTH, DEFAULT_REFINE_STEPS

        if spec.get("method") not in ("auto", "tiled_refine") or not spec.get("model"):
            return
        steps = denoising_steps(DEFAULT_REFINE_STEPS, DEFAULT_REFINE_IMAGE_STRENGTH)
        factor = int(spec["factor"])
        self._check(size[0] * factor * size[1] * factor * steps, f"a x{factor} tiled refine")

    def check(self, work: int, what: str) -> None:
        """Work counted by its caller (a restoration's damaged tiles), in pixel-steps."""
        self._check(work, what)

    def _check(self, work: int, what: str) -> None:
        if work > self.max_pixel_steps:
            raise InvalidRequest(
                f"this request asks for {work:,} pixel-steps ({what}; width x height x images x denoising "
                f"steps), over the limit of {self.max_pixel_steps:,} per request",
                hint="ask for fewer images, fewer steps or a smaller size, or split the request "
                "(the limit is PHOTOGEN_MAX_WORK_PER_REQUEST)",
            )
