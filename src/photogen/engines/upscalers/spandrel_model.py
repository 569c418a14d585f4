"""User-supplied upscaler files (ESRGAN, Real-ESRGAN, SwinIR, HAT, DAT, ... as people keep them) through
spandrel, which recognises the architecture from the weights alone.

spandrel imports torchvision as it starts, and torchvision must be the build made for the installed torch:
on a CPU-only torch from PyPI there is none, so this backend is for GPU hosts (or a CPU torch/torchvision
pair from PyTorch's own index). Without it, loading reports `upscaler_unavailable`.

Only weight files are read: `.safetensors`, or `.pth`/`.ckpt` through spandrel's restricted unpickler.
TorchScript (`.pt`) holds code and is refused.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from photogen.domain.errors import InvalidRequest, ModelNotFound, UnsupportedModel
from photogen.engines.upscalers.base import (
    MAX_OUTPUT_PIXELS,
    UpscaleProgress,
    as_rgb,
    check_factor,
    report,
    target_size,
    unavailable,
)
from photogen.engines.upscalers.tiles import TileGrid

SPANDREL_SUFFIXES = (".safetensors", ".pth", ".ckpt")
INSTALL_HINT = "pip install spandrel, with the torchvision build that matches your torch"
MAX_PASSES = 2


def spandrel_available() -> bool:
    """Whether spandrel (and the torchvision it imports) loads beside the installed torch."""
    try:
        import spandrel  # noqa: F401
    except (ImportError, RuntimeError, OSError):  # a mismatched torchvision fails with RuntimeError
        return False
    return True


class SpandrelUpscaler:
    """A super-resolution model file run tile by tile (tiles overlap and are blended like the refine's).

    A x4 model serves x2 by shrinking its result with Lanczos; a x2 model serves x4 in two passes. The model
    loads on first use, once, under the lock that also guards every run.
    """

    name = "spandrel"

    def __init__(self, path: str | Path, *, device: str = "cpu", tile: int = 256, overlap: int = 16) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in SPANDREL_SUFFIXES:
            raise UnsupportedModel(
                f"{self.path.name} is not an upscaler weight file",
                hint=f"give a {', '.join(SPANDREL_SUFFIXES)} file (TorchScript .pt files are not read)",
            )
        if not 0 <= overlap <= tile // 2 or tile < 16:
            raise InvalidRequest(
                f"tile {tile} px (at least 16) with overlap {overlap} px (at most half the tile)"
            )
        self.device = device
        self.tile = tile
        self.overlap = overlap
        self._lock = threading.Lock()
        self._model: Any = None

    def record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "upscaler": self.name,
            "model_file": self.path.name,
            "tile": self.tile,
            "overlap": self.overlap,
        }
        if self._model is not None:
            record.update(architecture=self._model.architecture.name, scale=self._model.scale)
        return record

    def upscale(
        self, image: Image.Image, factor: int, on_progress: UpscaleProgress | None = None
    ) -> Image.Image:
        # 1. check inputs and load the model
        factor = check_factor(factor)
        source = as_rgb(image)
        size = target_size(source, factor)
        with self._lock:
            model = self._load()
            scale = int(model.scale)
            passes = math.ceil(math.log(factor, scale) - 1e-9)
            if passes > MAX_PASSES:
                raise UnsupportedModel(
                    f"a x{scale} model would need {passes} passes for x{factor}", hint="use a x2 or x4 model"
                )

            # 2. run the passes, tile by tile
            grids = []
            width, height = source.size
            for _ in range(passes):
                grids.append(
                    TileGrid.plan(
                        (width, height), (min(self.tile, width), min(self.tile, height)), self.overlap
                    )
                )
                width, height = width * scale, height * scale
            if width * height > 4 * MAX_OUTPUT_PIXELS:
                raise InvalidRequest(
                    f"a x{scale} model makes {width}x{height} px on the way to x{factor}, too large to hold",
                    hint="crop the image first, or use a model of the factor you need",
                )
            total = sum(len(grid) for grid in grids)
            report(on_progress, 0, total)
            pixels = np.asarray(source, dtype=np.float32) / 255.0
            done = 0
            for grid in grids:
                tiles = []
                for left, top, right, bottom in grid.boxes():
                    tiles.append(self._run(model, pixels[top:bottom, left:right]))
                    done += 1
                    report(on_progress, done, total)
                pixels = grid.scaled(scale).blend(tiles)

        # 3. to the exact target size (a x4 model used for x2 is shrunk here)
        output = Image.fromarray(np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8), "RGB")
        return output if output.size == size else output.resize(size, Image.Resampling.LANCZOS)

    def _run(self, model: Any, tile: np.ndarray) -> np.ndarray:
        """One tile, HxWx3 float 0..1, through the model: (H*scale)xWx3 float 0..1."""
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(tile.transpose(2, 0, 1)))[None].to(self.device)
        with torch.inference_mode():
            output = model(tensor)
        return output[0].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        if not self.path.is_file():
            raise ModelNotFound(f"upscaler file {self.path.name} was not found", hint="check the path")
        try:
            import torch
            from spandrel import ImageModelDescriptor, ModelLoader
        except (ImportError, RuntimeError, OSError) as exc:
            raise unavailable(
                "spandrel, or the torchvision build it needs, is not installed", INSTALL_HINT
            ) from exc
        try:
            model = ModelLoader(device=torch.device(self.device)).load_from_file(self.path)
        except Exception as exc:  # spandrel raises many kinds for files it does not recognise
            raise UnsupportedModel(
                f"{self.path.name} is not an upscaler spandrel recognises",
                hint="use an ESRGAN-family, SwinIR, HAT, DAT, ... file",
            ) from exc
        if not isinstance(model, ImageModelDescriptor) or model.scale < 2 or model.input_channels != 3:
            raise UnsupportedModel(
                f"{self.path.name} is not an RGB super-resolution model (scale {getattr(model, 'scale', '?')})",
                hint="use a x2 or x4 upscaler",
            )
        model.eval()
        self._model = model
        return model
