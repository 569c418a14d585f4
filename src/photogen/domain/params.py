"""The parameters of a generation, validated at the edge and recorded with every output."""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from photogen.domain.errors import InvalidRequest

SchedulerName = Literal["default", "euler", "euler_a", "dpmpp_2m", "ddim", "pndm", "lms"]
MAX_SEED = 2**32 - 1
MAX_REFERENCES = 8  # the most reference images any request may carry; each model says how many it takes
MAX_ANGLE = 90  # the largest head turn (yaw degrees) any request may ask for; each model says how far it turns
ANGLE_STEP = 5  # angles are asked for in steps of this many degrees (15 and 30 are the usual small turns)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# ASCII digits only and nothing after the second number: "4:5\n" and "４:５" are refused, not read loosely.
_RATIO = re.compile(r" *([0-9]+(?:\.[0-9]+)?) *[:x/] *([0-9]+(?:\.[0-9]+)?) *", re.ASCII)


def parse_aspect_ratio(text: str) -> tuple[float, float]:
    """'4:5' -> (4.0, 5.0). Ratios wider than 4:1 or taller than 1:4 are refused."""
    match = _RATIO.fullmatch(text)
    if not match:
        raise ValueError(f"aspect ratio {text!r} is not of the form W:H, e.g. 4:5 or 16:9")
    w, h = float(match.group(1)), float(match.group(2))
    if w <= 0 or h <= 0:
        raise ValueError(f"aspect ratio {text!r} must have two positive sides")
    if not 0.25 <= w / h <= 4.0:
        raise ValueError(f"aspect ratio {text!r} is outside 1:4 .. 4:1")
    return w, h


def denoising_steps(steps: int, image_strength: float | None) -> int:
    """How many denoising steps run: int(steps x (1 - image_strength)), read with a 1e-6
    allowance so that 30 x 0.7 counts as 21 even where float arithmetic gives 20.999...
    Without an image strength (edit models start from noise) every step runs."""
    if image_strength is None:
        return steps
    return math.floor(steps * (1.0 - image_strength) + 1e-6)


class GenerationRequest(BaseModel):
    """One image-to-image request: a prompt and the controls over how far to move from the source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: str = Field(max_length=2000, json_schema_extra={"minLength": 1}, description="What the output should show.")
    negative_prompt: str = Field(default="", max_length=2000, description="What the output should avoid.")
    image_strength: float | None = Field(
        default=0.35,
        ge=0.0,
        le=1.0,
        description="How tightly the output stays attached to the source: 1.0 keeps the source, "
        "0.0 ignores it. The denoising strength is 1 - image_strength. None for models without one "
        "(instruction-edit models, which read the source as a reference and run every step).",
    )
    seed: int | None = Field(
        default=None, ge=0, le=MAX_SEED, description="Seed of image 0; image k uses seed + k. None picks one."
    )
    steps: int = Field(default=30, ge=1, le=150, description="Scheduler steps before the strength cut.")
    guidance: float = Field(default=7.0, ge=0.0, le=30.0, description="Classifier-free guidance scale (CFG).")
    num_images: int = Field(default=1, ge=1, le=16, description="Images to make, with seeds seed, seed+1, ...")
    aspect_ratio: str | None = Field(
        default=None, description="Crop the source to this ratio first (W:H, e.g. 4:5). None keeps the source's."
    )
    width: int | None = Field(default=None, ge=64, le=2048, description="Explicit output width (multiple of 8).")
    height: int | None = Field(default=None, ge=64, le=2048, description="Explicit output height (multiple of 8).")
    crop_preset: str | None = Field(
        default=None,
        max_length=100,
        description="Crop for a use first: headshot, instagram-square, instagram-portrait, product-hero, "
        "product-square, poster, poster:WxH[in|cm][@DPI] or custom:W:H; the box is placed on the face or subject.",
    )
    crop_box: tuple[int, int, int, int] | None = Field(
        default=None,
        description="Crop box (left, top, right, bottom) in upright source pixels, e.g. a preset's box the user "
        "moved; trimmed to the output's exact ratio around its centre.",
    )
    scheduler: SchedulerName = Field(default="default", description="Sampler; 'default' keeps the model's own.")
    recipe: str | None = Field(
        default=None, max_length=120, description="The recipe the request came from, as name@version (recorded)."
    )
    model: str = Field(default="tiny", min_length=1, description="'tiny', a hub id, a diffusers folder or a .safetensors file.")
    references: tuple[str, ...] = Field(
        default=(),
        max_length=MAX_REFERENCES,
        description="Reference images besides the source, in order, each by the SHA-256 (hex) of its original "
        "bytes; the model's max_references says how many it takes.",
    )
    reference_strength: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="How strongly the reference images steer the output (IP-Adapter models); None: the model's "
        "default.",
    )

    angle: int | None = Field(
        default=None,
        ge=-MAX_ANGLE,
        le=MAX_ANGLE,
        description="Turn the head by this many degrees of yaw, keeping the crop (instruction-edit models with "
        "max_angle): positive turns the face towards the image's right, negative towards its left. Small steps "
        "(15, 30) hold the identity best. None: no turn.",
    )

    @field_validator("prompt")
    @classmethod
    def _check_prompt(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a prompt is required: say what the output should show")
        return value

    @field_validator("references")
    @classmethod
    def _check_references(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for digest in value:
            if not _SHA256.match(digest):
                raise ValueError(f"{digest[:80]!r} is not a SHA-256 in lower-case hex (64 characters)")
        return value

    @field_validator("angle")
    @classmethod
    def _check_angle(cls, value: int | None) -> int | None:
        if value is not None and value % ANGLE_STEP:
            raise ValueError(f"{value} is not a multiple of {ANGLE_STEP} degrees; try {round(value / ANGLE_STEP) * ANGLE_STEP}")
        return None if value == 0 else value

    @field_validator("aspect_ratio")
    @classmethod
    def _check_ratio(cls, value: str | None) -> str | None:
        if value is not None:
            parse_aspect_ratio(value)
        return value

    @field_validator("width", "height")
    @classmethod
    def _check_multiple_of_8(cls, value: int | None) -> int | None:
        if value is not None and value % 8:
            raise ValueError(f"{value} is not a multiple of 8; try {round(value / 8) * 8}")
        return value

    @field_validator("crop_box")
    @classmethod
    def _check_box(cls, value: tuple[int, int, int, int] | None) -> tuple[int, int, int, int] | None:
        if value is not None:
            left, top, right, bottom = value
            if min(value) < 0 or right - left < 8 or bottom - top < 8:
                raise ValueError("a crop box is (left, top, right, bottom) with right > left + 8, bottom > top + 8, all >= 0")
        return value

    @model_validator(mode="after")
    def _check_combination(self) -> GenerationRequest:
        if self.aspect_ratio is not None and (self.crop_preset or self.crop_box):
            raise ValueError("a crop preset or crop box sets the ratio; leave aspect_ratio out")
        if (self.width is None) != (self.height is None):
            raise ValueError("give both width and height, or neither")
        if self.width is not None and self.aspect_ratio is not None:
            raise ValueError("give an aspect ratio or an explicit width and height, not both")
        if self.reference_strength is not None and not self.references:
            raise ValueError("reference_strength steers reference images; give references, or leave it out")
        if denoising_steps(self.steps, self.image_strength) < 1:
            most = 1.0 - 1.0 / self.steps
            raise ValueError(
                f"image_strength {self.image_strength} with {self.steps} steps leaves no denoising step; "
                f"use image_strength <= {math.floor(most * 1000) / 1000} or more steps"
            )
        return self

    @property
    def denoising_strength(self) -> float | None:
        return None if self.image_strength is None else round(1.0 - self.image_strength, 6)

    @property
    def denoising_steps(self) -> int:
        return denoising_steps(self.steps, self.image_strength)

    @property
    def model_prompt(self) -> str:
        """What the model reads: the prompt, with the head turn (`angle`) said as an instruction after it."""
        return self.prompt if self.angle is None else f"{self.prompt.rstrip()}\n{angle_instruction(self.angle)}"

    @property
    def ratio(self) -> tuple[float, float] | None:
        """The output ratio the request fixes by itself (a preset's ratio is the preset's business)."""
        if self.width is not None and self.height is not None:
            return float(self.width), float(self.height)
        if self.crop_box is not None:
            left, top, right, bottom = self.crop_box
            return float(right - left), float(bottom - top)
        return parse_aspect_ratio(self.aspect_ratio) if self.aspect_ratio else None

    def seeds(self) -> list[int]:
        if self.seed is None:
            raise InvalidRequest("the request has no seed yet", hint="resolve the seed before running")
        return [(self.seed + k) % (MAX_SEED + 1) for k in range(self.num_images)]

    @classmethod
    def parse(cls, data: dict[str, Any]) -> GenerationRequest:
        """Validate `data`, turning pydantic's report into one InvalidRequest a person can read."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidRequest(describe_validation_error(exc), hint="fix the values named above") from None


def angle_instruction(angle: int) -> str:
    """A head turn of `angle` degrees of yaw as an instruction-edit model reads it; the crop stays as it is."""
    side = "right" if angle > 0 else "left"
    return (f"Turn the person's head about {abs(angle)} degrees so the face points towards the {side} side of "
            "the image. Keep the same person, expression, lighting, background, framing and crop.")


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "request"
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)
