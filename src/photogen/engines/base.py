"""The generator port: what the rest of photogen needs from any image-to-image backend."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

from PIL import Image

from photogen.domain.errors import IncompatibleBatch
from photogen.domain.licences import CommercialTerms
from photogen.domain.params import GenerationRequest, SchedulerName

# Called after each denoising step with (step done, steps in all); the step covers every image.
# An exception raised by the callback stops the batch and propagates out of `generate`.
StepCallback = Callable[[int, int], None]

# Called many times a step, from inside the model's forward passes (before each UNet and VAE block) and
# between steps; it raises to stop the batch at once, so a cancel or a deadline lands within a fraction of
# a step. It must be cheap: read a flag or a clock, never the database. Its exception propagates out of
# `generate`.
InterruptCheck = Callable[[], None]


ALL_SCHEDULERS: tuple[str, ...] = get_args(SchedulerName)
GuidanceKind = Literal["cfg", "embedded", "none"]


@dataclass(frozen=True)
class Capabilities:
    """What requests for a model may use, known from its configs alone (no weights loaded).

    The API, the CLI, the UI and the batcher read these instead of assuming SD img2img; a request
    that uses a control its model lacks is refused (photogen.engines.controls).
    """

    image_strength: bool  # img2img from the source with an image strength; edit models start from noise
    negative_prompt: bool  # a negative prompt is honoured (classifier-free or "true" CFG)
    schedulers: tuple[str, ...]  # values a request's scheduler may take; "default" is the model's own
    size_multiple: int  # output width and height are multiples of this
    native_pixels: int  # the pixel count the model was trained at (outputs are sized to it)
    max_references: int = 0  # reference images a request may add beside its source
    reference_strength: bool = False  # a reference-strength control (IP-Adapter)
    default_reference_strength: float | None = None  # used when a request with references sets none
    guidance: GuidanceKind = "cfg"  # cfg: guided pairs; embedded: distilled guidance input; none: ignored
    prompt_kind: Literal["description", "instruction"] = "description"  # instruction: "make the coat red"
    default_guidance: float | None = None  # the model's own, used when a request sets none (None: 7.0)
    default_steps: int | None = None  # likewise (None: 30)
    min_steps: int = 1  # fewer steps break the model's sampler (Qwen-Image's terminal shift needs two)
    max_angle: int = 0  # the largest head turn (yaw degrees) a request's `angle` may ask for; 0: no angle control

    def denoising_steps(self, request: GenerationRequest) -> int:
        """The steps a request runs, which is what its progress counts to: img2img runs the last
        int(steps x (1 - image_strength)) of its schedule, an edit model every step."""
        return request.denoising_steps if self.image_strength else request.steps

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "schedulers": list(self.schedulers)}


# Instruction-edit models turn a head when told to; past this many degrees of yaw from the photo they start to
# invent a face rather than turn one (the preflight warns from 30 degrees off what the references show).
INSTRUCTION_MAX_ANGLE = 45


def img2img_capabilities(native_pixels: int, *, guidance: GuidanceKind = "cfg") -> Capabilities:
    """Stable Diffusion image-to-image: strength, negative prompt, every scheduler, sizes in multiples of 8."""
    return Capabilities(image_strength=True, negative_prompt=True, schedulers=ALL_SCHEDULERS, size_multiple=8,
                        native_pixels=native_pixels, guidance=guidance)


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
    commercial_use: CommercialTerms | None = None  # the licence's terms in plain words (None: not looked up)

    @property
    def label(self) -> str:
        return f"{self.id} (random weights: not a trained model)" if self.random_weights else self.id


@dataclass(frozen=True)
class PreparedRequest:
    """A request whose seed is fixed, whose source is already cropped and sized for the model, and whose
    reference images (request.references, in the same order) are decoded and sized for it."""

    request: GenerationRequest
    image: Image.Image  # RGB, exactly the output size
    references: tuple[Image.Image, ...] = ()  # RGB, each at the size the model reads it at

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size


def batch_key(item: PreparedRequest) -> tuple[Any, ...]:
    """Requests with equal keys can share one pass through the model.

    Prompts, seeds, source images, reference images and guidance scales may differ inside a batch:
    each image is guided with its own scale. The number and sizes of references must match (they are
    tokens beside the image's own), and so must the reference strength (one adapter scale per pass).
    """
    r = item.request
    key: tuple[Any, ...] = (r.model, item.size, r.steps, r.denoising_steps, r.scheduler)
    if item.references or r.reference_strength is not None:
        key += (tuple(image.size for image in item.references), r.reference_strength)
    return key


def check_compatible(batch: Sequence[PreparedRequest]) -> None:
    if not batch:
        raise IncompatibleBatch("an empty batch was handed to the engine", hint="pass at least one request")
    keys = {batch_key(item) for item in batch}
    if len(keys) > 1:
        raise IncompatibleBatch(
            "these requests cannot share one batch: model, size, steps, strength steps, scheduler and the "
            "number and sizes of reference images must match",
            hint="group requests by photogen.engines.base.batch_key before batching",
        )


class Generator(Protocol):
    """An image-to-image backend with one model loaded."""

    info: ModelInfo
    capabilities: Capabilities

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
    """One family of models (SD 1.x, SDXL, FLUX, ...): how to recognise, describe and load it.

    A family lives in its own module under photogen.engines.families and is found there
    at run time, so adding one touches nothing else (the package's docstring says how).
    """

    name: str

    def claims_folder(self, model_index: dict[str, Any], folder: Path) -> bool: ...

    def capabilities_of(self, folder: Path) -> Capabilities:
        """What requests for the diffusers folder's model may use, from its configs alone (no weights)."""
        ...

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
