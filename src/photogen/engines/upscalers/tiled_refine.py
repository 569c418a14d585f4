"""Upscale with the loaded image-to-image model: Lanczos to the target size, then a low-strength refine, tile
by tile, so the model adds detail at its own working size whatever the output size.

Tiles go through `Generator.generate` as ordinary prepared requests, so the refine runs exactly the code
path (scheduler, seeds, batching) of a generation. Tile k is seeded with seed + k, which makes the whole
pass reproducible from its record.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PIL import Image

from photogen.domain.errors import InvalidRequest
from photogen.domain.params import MAX_SEED, GenerationRequest, SchedulerName
from photogen.engines.base import Generator, InterruptCheck, PreparedRequest
from photogen.engines.upscalers.base import UpscaleProgress, as_rgb, check_factor, report, target_size
from photogen.engines.upscalers.tiles import TileGrid

DEFAULT_REFINE_PROMPT = "a sharp, detailed, high quality photograph"
DEFAULT_REFINE_IMAGE_STRENGTH = 0.75  # denoising strength 0.25: detail is added, the picture kept
DEFAULT_REFINE_STEPS = 20
MIN_TILE = 64  # the smallest side a generation request allows
TILE_MULTIPLE = 8


class TiledRefineUpscaler:
    """Lanczos, then img2img refine at low denoising strength over overlapping tiles blended without seams.

    `tile` defaults to the model's native square size, `overlap` to an eighth of the tile (64 px for a
    512 px model). `batch_size` tiles share one pass through the model.
    """

    name = "tiled_refine"

    def __init__(
        self,
        generator: Generator,
        *,
        prompt: str = DEFAULT_REFINE_PROMPT,
        negative_prompt: str = "",
        image_strength: float = DEFAULT_REFINE_IMAGE_STRENGTH,
        steps: int = DEFAULT_REFINE_STEPS,
        guidance: float = 7.0,
        seed: int = 0,
        scheduler: SchedulerName = "default",
        tile: int | None = None,
        overlap: int | None = None,
        batch_size: int = 1,
    ) -> None:
        tile = tile if tile is not None else max(generator.native_size((1.0, 1.0)))
        overlap = overlap if overlap is not None else tile // 8
        if tile < MIN_TILE or tile % TILE_MULTIPLE:
            raise InvalidRequest(
                f"tile {tile} px must be a multiple of {TILE_MULTIPLE} and at least {MIN_TILE}"
            )
        if not 0 <= overlap <= tile // 2:
            raise InvalidRequest(f"overlap {overlap} px must be between 0 and half the tile ({tile // 2} px)")
        if batch_size < 1:
            raise InvalidRequest(f"batch size {batch_size} must be at least 1")
        self._generator = generator
        self.tile = tile
        self.overlap = overlap
        self.batch_size = batch_size
        # validated once here, with the fields every tile request shares
        self._fields: dict[str, Any] = {
            "prompt": prompt,
            "negative_prompt": negative_prompt,
            "image_strength": image_strength,
            "steps": steps,
            "guidance": guidance,
            "seed": seed,
            "scheduler": scheduler,
            "model": generator.info.id,
        }
        GenerationRequest.parse({**self._fields, "width": tile, "height": tile})

    def record(self) -> dict[str, Any]:
        return {
            "upscaler": self.name,
            "model": self._generator.info.id,
            **{key: value for key, value in self._fields.items() if key != "model"},
            "tile": self.tile,
            "overlap": self.overlap,
            "batch_size": self.batch_size,
        }

    def upscale(
        self,
        image: Image.Image,
        factor: int,
        on_progress: UpscaleProgress | None = None,
        interrupt: InterruptCheck | None = None,
    ) -> Image.Image:
        """`interrupt()` is called between tiles and inside each tile's denoising; raising stops the pass."""
        # 1. check inputs
        factor = check_factor(factor)
        source = as_rgb(image)
        width, height = target_size(source, factor)

        # 2. plain resampling to the target size: the refine adds detail, not pixels
        enlarged = np.asarray(source.resize((width, height), Image.Resampling.LANCZOS))

        # 3. plan the tiles; a canvas narrower than a tile is padded (mirrored) to one tile
        tile_size = (self._axis_tile(width), self._axis_tile(height))
        canvas = _pad_to(enlarged, (max(width, tile_size[0]), max(height, tile_size[1])))
        grid = TileGrid.plan((canvas.shape[1], canvas.shape[0]), tile_size, self.overlap)

        # 4. refine tile by tile through the generator: (tile_h, tile_w, 3) float32 each
        refined = self._refine(canvas, grid, on_progress, interrupt)

        # 5. blend with cosine ramps across the overlaps, drop the padding
        blended = grid.blend(refined)[:height, :width]
        return Image.fromarray(np.clip(np.rint(blended), 0, 255).astype(np.uint8), "RGB")

    def _axis_tile(self, length: int) -> int:
        """The tile side along an axis: the whole (rounded up) axis if it is at most a quarter longer than
        the configured tile; else the configured tile, shrunk (to no less than 3/4 of it) until the tiles
        the axis needs cover it with little more than their overlaps.

        With the full tile only, an axis just over a whole number of tiles needs one more tile that is
        mostly overlap: a 256 px axis took three 128 px tiles (384 px of work); with 96 px tiles it takes
        288 px. The work stays proportional to the output's area, whatever its size.
        """
        whole = max(MIN_TILE, _round_up(length))
        if whole <= self.tile * 5 / 4:  # one tile, at most a quarter larger than the model's, beats two
            return whole
        count = math.ceil((length - self.overlap) / (self.tile - self.overlap))
        fitted = _round_up((length + (count - 1) * self.overlap) / count)
        smallest = max(MIN_TILE, _round_up(self.tile * 3 / 4), self.overlap * 2)
        return min(self.tile, max(fitted, smallest))

    def _refine(
        self,
        canvas: np.ndarray,
        grid: TileGrid,
        on_progress: UpscaleProgress | None,
        interrupt: InterruptCheck | None,
    ) -> list[np.ndarray]:
        tile_width, tile_height = grid.tile
        seed = int(self._fields["seed"])
        prepared = [
            PreparedRequest(
                request=GenerationRequest.parse(
                    {
                        **self._fields,
                        "seed": (seed + k) % (MAX_SEED + 1),
                        "width": tile_width,
                        "height": tile_height,
                    }
                ),
                image=Image.fromarray(np.ascontiguousarray(canvas[top:bottom, left:right]), "RGB"),
            )
            for k, (left, top, right, bottom) in enumerate(grid.boxes())
        ]
        refined: list[np.ndarray] = []
        report(on_progress, 0, len(prepared))
        for first in range(0, len(prepared), self.batch_size):
            if interrupt is not None:
                interrupt()
            batch = prepared[first : first + self.batch_size]
            for images in self._generator.generate(batch, None, interrupt):
                output = as_rgb(images[0])
                if output.size != (tile_width, tile_height):
                    raise InvalidRequest(
                        f"the model returned a {output.width}x{output.height} tile for a "
                        f"{tile_width}x{tile_height} one",
                        hint="use a tile size the model keeps (a multiple of 8)",
                    )
                refined.append(np.asarray(output, dtype=np.float32))
            report(on_progress, len(refined), len(prepared))
        return refined


def _round_up(length: float) -> int:
    return math.ceil(length / TILE_MULTIPLE) * TILE_MULTIPLE


def _pad_to(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`pixels` grown to `size` (width, height) at the right and bottom by mirroring."""
    import cv2

    extra_x, extra_y = size[0] - pixels.shape[1], size[1] - pixels.shape[0]
    if extra_x == 0 and extra_y == 0:
        return pixels
    if extra_x >= pixels.shape[1] or extra_y >= pixels.shape[0]:
        return cv2.copyMakeBorder(pixels, 0, extra_y, 0, extra_x, cv2.BORDER_REPLICATE)
    return cv2.copyMakeBorder(pixels, 0, extra_y, 0, extra_x, cv2.BORDER_REFLECT_101)
