"""Overlapping tiles and their seamless blend, shared by the tiled upscale passes.

Along each axis the tiles are spread evenly so that neighbours overlap by at least `overlap` pixels. Where
two tiles overlap, a raised-cosine ramp (sin^2) of `ramp` pixels, centred in the overlap, hands over from
one to the next: the leaving tile's weight is exactly 1 minus the arriving tile's, so the weights add up to
1 everywhere, and both ramps start and end with zero slope, so no edge or step is left where a tile ends.
A 2-D tile's weight is the product of its two axis weights. Pure numpy; coordinates are pixels.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from photogen.domain.errors import InvalidRequest


def axis_starts(length: int, tile: int, overlap: int) -> tuple[int, ...]:
    """Start of each tile along an axis of `length` px: the first at 0, the last ending at `length`."""
    if tile > length:
        raise InvalidRequest(
            f"a {tile} px tile does not fit in {length} px", hint="pad the image to the tile size"
        )
    if tile == length:
        return (0,)
    if not 0 <= overlap < tile:
        raise InvalidRequest(f"overlap {overlap} px must be at least 0 and less than the tile ({tile} px)")
    count = math.ceil((length - overlap) / (tile - overlap))
    return tuple(round(i * (length - tile) / (count - 1)) for i in range(count))


def axis_weights(starts: tuple[int, ...], tile: int, ramp: float) -> list[np.ndarray]:
    """Each tile's weight along the axis (length `tile`); at every pixel the weights add up to 1."""
    # where tile i hands over to tile i + 1: the middle of their overlap
    handovers = [(starts[i + 1] + starts[i] + tile) / 2 for i in range(len(starts) - 1)]
    weights = []
    for i, start in enumerate(starts):
        centres = np.arange(start, start + tile, dtype=np.float64) + 0.5
        weight = np.ones(tile, dtype=np.float64)
        if i > 0:
            weight *= _rise(centres, handovers[i - 1], ramp)
        if i < len(starts) - 1:
            weight *= 1.0 - _rise(centres, handovers[i], ramp)
        weights.append(weight)
    return weights


def _rise(positions: np.ndarray, centre: float, ramp: float) -> np.ndarray:
    """0 before the ramp, sin^2 across its `ramp` px centred on `centre`, 1 after it."""
    if ramp <= 0:
        return (positions >= centre).astype(np.float64)
    t = np.clip((positions - (centre - ramp / 2)) / ramp, 0.0, 1.0)
    return np.sin(t * (np.pi / 2)) ** 2


@dataclass(frozen=True)
class TileGrid:
    """Tiles of one size covering a `size` canvas exactly, row by row."""

    size: tuple[int, int]  # canvas width, height
    tile: tuple[int, int]  # tile width, height
    xs: tuple[int, ...]
    ys: tuple[int, ...]
    ramp: float  # blend length in px; at most the smallest overlap and the smallest step between tiles

    @classmethod
    def plan(cls, size: tuple[int, int], tile: tuple[int, int], overlap: int) -> TileGrid:
        xs = axis_starts(size[0], tile[0], overlap)
        ys = axis_starts(size[1], tile[1], overlap)
        limits = [float(overlap)]
        for starts, length in ((xs, tile[0]), (ys, tile[1])):
            steps = [b - a for a, b in itertools.pairwise(starts)]
            limits += [float(s) for s in steps] + [float(length - s) for s in steps]
        return cls(size=size, tile=tile, xs=xs, ys=ys, ramp=min(limits))

    def scaled(self, factor: int) -> TileGrid:
        """The same grid on a canvas `factor` times larger (tiles read at one size, written at another)."""
        return TileGrid(
            size=(self.size[0] * factor, self.size[1] * factor),
            tile=(self.tile[0] * factor, self.tile[1] * factor),
            xs=tuple(x * factor for x in self.xs),
            ys=tuple(y * factor for y in self.ys),
            ramp=self.ramp * factor,
        )

    def boxes(self) -> list[tuple[int, int, int, int]]:
        """(left, top, right, bottom) of every tile, row by row."""
        width, height = self.tile
        return [(x, y, x + width, y + height) for y in self.ys for x in self.xs]

    def __len__(self) -> int:
        return len(self.xs) * len(self.ys)

    def blend(self, tiles: list[np.ndarray]) -> np.ndarray:
        """Tiles (HxWxC, in `boxes()` order) blended into one float32 canvas of `size`."""
        if len(tiles) != len(self):
            raise InvalidRequest(f"{len(tiles)} tiles were given for a grid of {len(self)}")
        column_weights = axis_weights(self.xs, self.tile[0], self.ramp)
        row_weights = axis_weights(self.ys, self.tile[1], self.ramp)
        channels = tiles[0].shape[2]
        canvas = np.zeros((self.size[1], self.size[0], channels), dtype=np.float32)
        total = np.zeros((self.size[1], self.size[0], 1), dtype=np.float32)
        for index, (left, top, right, bottom) in enumerate(self.boxes()):
            tile = tiles[index]
            if tile.shape[:2] != (bottom - top, right - left):
                raise InvalidRequest(
                    f"tile {index} is {tile.shape[1]}x{tile.shape[0]}, not {right - left}x{bottom - top}"
                )
            weight = np.outer(row_weights[index // len(self.xs)], column_weights[index % len(self.xs)])
            weight = weight.astype(np.float32)[..., None]
            canvas[top:bottom, left:right] += weight * tile
            total[top:bottom, left:right] += weight
        return canvas / np.maximum(total, np.float32(1e-12))
