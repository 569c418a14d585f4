"""The generator port: what the rest of photogen needs from any image-to-image backend."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from photogen.domain.errors import IncompatibleBatch
from photogen.domain.params import GenerationRequest

# Called after each denoising step with (step done, steps in all); the step covers every image.
# An exception raised by the callback stops the batch and propagates out of `generate`.
StepCallback = Callable[[int, int], None]

# Called many times a step, from inside the model's forward passes (before each UNet and VAE block) and
# between steps; it raises to stop the batch at once, so a cancel or a deadline lands within a fraction of
# a step. It must be cheap: read a flag or a clock, never the database. Its exception propagates out of
# `generate`.
InterruptCheck = Callable[[], None]


@dataclass(frozen=True)
class ModelInfo:
    """What every output records about the model that made it."""

    id: str
    family: str
    source: str  # "tiny", "hub", "folder" or "single_file"
    revision: str | None = None
    licence: str | None = None
    random_weights: bool = False
    native_pixels: int = 512 * 512
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.id} (random weights: not a trained model)" if self.random_weights else self.id


@dataclass(frozen=True)
class PreparedRequest:
    """A request whose seed is fixed and whose source is already cropped and sized for the model."""

    request: GenerationRequest
    image: Image.Image  # RGB, exactly the output size

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size


def batch_key(item: PreparedRequest) -> tuple[Any, ...]:
    """Requests with equal keys can share one pass through the model.

    Prompts, seeds, source images and guidance scales may differ inside a batch: each image is
    guided with its own scale.
    """
    r = item.request
    return (r.model, item.size, r.steps, r.denoising_steps, r.scheduler)


def check_compatible(batch: Sequence[PreparedRequest]) -> None:
    if not batch:
        raise IncompatibleBatch("an empty batch was handed to the engine", hint="pass at least one request")
    keys = {batch_key(item) for item in batch}
    if len(keys) > 1:
        raise IncompatibleBatch(
            "these requests cannot share one batch: model, size, steps, strength steps and scheduler must match",
            hint="group requests by photogen.engines.base.batch_key before batching",
        )


class Generator(Protocol):
    """An image-to-image backend with one model loaded."""

    info: ModelInfo

    def native_size(self, ratio: tuple[float, float]) -> tuple[int, int]:
        """The output size this model works best at for an aspect ratio."""
        ...

    def generate(
        self,
        batch: Sequence[PreparedRequest],
        on_step: StepCallback | None = None,
        interrupt: InterruptCheck | None = None,
    ) -> list[list[Image.Image]]:
        """Run compatible requests as one batch; returns, per request, its images in seed order."""
        ...


class ModelFamily(Protocol):
    """One family of models (SD 1.x, SDXL, FLUX, ...): how to recognise and load it.

    A family lives in its own module under photogen.engines.families and is found there
    at run time, so adding one touches nothing else.
    """

    name: str

    def claims_folder(self, model_index: dict[str, Any], folder: Path) -> bool: ...

    def claims_checkpoint(self, shapes: dict[str, tuple[int, ...]]) -> bool:
        """Whether a single file (weight name -> shape) is this family's; may raise UnsupportedModel."""
        ...

    def load_folder(self, folder: Path, info: ModelInfo, *, device: str, dtype: str, options: Any = None) -> Generator:
        """Load a diffusers folder; `options` (the Settings) choose the engine optimisations."""
        ...

    def load_single_file(
        self, path: Path, info: ModelInfo, *, device: str, dtype: str, cache_dir: Path, options: Any = None
    ) -> Generator: ...

    def import_libraries(self) -> None:
        """Import what a load of this family imports (torch, its pipeline classes and their encoders)."""
        ...
