"""Tiles at the scan's own resolution, blended without seams (photogen.engines.upscalers.tiles), where only
the tiles that need work run it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from photogen.engines.upscalers.tiles import TileGrid

TileWork = Callable[[np.ndarray, tuple[int, int, int, int]], np.ndarray]


def pad_to(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`pixels` grown to `size` (width, height) at the right and bottom by mirroring (or repeating)."""
    import cv2

    extra_x, extra_y = size[0] - pixels.shape[1], size[1] - pixels.shape[0]
    if extra_x <= 0 and extra_y <= 0:
        return pixels
    extra_x, extra_y = max(0, extra_x), max(0, extra_y)
    border = cv2.BORDER_REFLECT_101 if extra_x < pixels.shape[1] and extra_y < pixels.shape[0] else cv2.BORDER_REPLICATE
    return cv2.copyMakeBorder(pixels, 0, extra_y, 0, extra_x, border)


def tiled(rgb: np.ndarray, tile: int, work: TileWork, needs: Callable[[tuple[int, int, int, int]], bool], *,
          overlap: int | None = None, on_tile: Callable[[int, int], None] | None = None,
          before_work: Callable[[int], None] | None = None) -> tuple[np.ndarray, dict]:
    """`work(tile_pixels, box)` on each tile where `needs(box)`; the others keep their pixels. The tiles are
    blended with the tiled upscale's cosine ramps. `before_work` hears how many tiles will be worked before the
    first is (it may refuse them). Returns the float32 result (the input's size) and a count."""
    height, width = rgb.shape[:2]
    overlap = tile // 8 if overlap is None else overlap
    canvas = pad_to(rgb, (max(width, tile), max(height, tile)))
    grid = TileGrid.plan((canvas.shape[1], canvas.shape[0]), (tile, tile), overlap)
    boxes = grid.boxes()
    chosen = [needs(box) for box in boxes]
    total, done = sum(chosen), 0
    if before_work is not None:
        before_work(total)
    tiles = []
    for box, run in zip(boxes, chosen):
        left, top, right, bottom = box
        pixels = np.ascontiguousarray(canvas[top:bottom, left:right])
        if run:
            pixels = work(pixels, box)
            done += 1
            if on_tile is not None:
                on_tile(done, total)
        tiles.append(pixels.astype(np.float32))
    blended = grid.blend(tiles)[:height, :width]
    return blended, {"tiles": len(boxes), "tiles_worked": total, "tile": tile, "overlap": overlap}
