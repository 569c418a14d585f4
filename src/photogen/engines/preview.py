"""Live previews while a batch denoises: the latents decoded cheaply, without the VAE, by a fixed linear map
from latent channels to RGB (one per latent layout: Stable Diffusion 1.x/2.x and SDXL both have 4 channels).

The engine offers its latents after each step; nothing is computed unless a run asked for previews with
`previews(sink)` (a context variable, so only the thread that runs the batch sees it)."""

from __future__ import annotations

import base64
import contextlib
import io
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from PIL import Image

# Rows: latent channels; columns: R, G, B. The well-known approximation of the SD 1.x VAE's decoder.
SD_LATENT_RGB = ((0.3512, 0.2297, 0.3227), (0.3250, 0.4974, 0.2350), (-0.2829, 0.1762, 0.2721), (-0.2120, -0.2616, -0.7177))
LATENT_RGB: dict[int, tuple[tuple[float, float, float], ...]] = {4: SD_LATENT_RGB}
PREVIEW_LONG_SIDE = 96  # px: a hint of the picture, a couple of KB as JPEG

PreviewSink = Callable[[int, int, Any], None]
_SINK: ContextVar[PreviewSink | None] = ContextVar("photogen_preview_sink", default=None)


@contextlib.contextmanager
def previews(sink: PreviewSink) -> Iterator[None]:
    """Within the block, `offer` hands each step's latents to `sink(done, total, latents)`."""
    token = _SINK.set(sink)
    try:
        yield
    finally:
        _SINK.reset(token)


def offer(done: int, total: int, latents: Any) -> None:
    """Called by the engine after a step; costs nothing when no run asked for previews."""
    sink = _SINK.get()
    if sink is not None:
        sink(done, total, latents)


def latent_image(latent: Any, long_side: int = PREVIEW_LONG_SIDE) -> Image.Image | None:
    """One latent (C, H, W) as a small RGB image through the fixed map; None for a layout without one."""
    import torch

    factors = LATENT_RGB.get(int(latent.shape[0]))
    if factors is None:
        return None
    matrix = torch.tensor(factors, dtype=torch.float32)
    rgb = torch.einsum("chw,cr->hwr", latent.detach().float().cpu(), matrix)
    pixels = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    image = Image.fromarray(pixels, "RGB")
    scale = long_side / max(image.size)
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.BILINEAR)


def data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
