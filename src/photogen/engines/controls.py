"""Which request controls a model offers: refuse a request that uses one its model lacks, fill the model's
own defaults where the request left a control unset.

Two entry points, both pure:
- `check_controls(request, capabilities, model)` refuses (UnsupportedControl, 422 on the API) a request
  whose values use a control the model lacks: an image strength on an instruction-edit model, a negative
  prompt without CFG, more references than the model takes, a scheduler it does not offer, a reference
  strength without an adapter, fewer steps than its sampler needs, a size off the model's grid. The worker runs it again on the loaded model.
- `fit_request(request, given, capabilities, model)` is what the API and the CLI do with a new request:
  controls the caller set (`given`) are checked as they are; controls the caller left to defaults or to a
  recipe are set to what the model takes (no image strength on an edit model, its own guidance and steps).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from photogen.domain.errors import UnsupportedControl
from photogen.domain.params import GenerationRequest
from photogen.engines.base import Capabilities


def check_controls(request: GenerationRequest, capabilities: Capabilities, model: str) -> None:
    """Raise UnsupportedControl naming the first control `request` uses that `model` lacks."""
    caps = capabilities
    if request.image_strength is not None and not caps.image_strength:
        raise UnsupportedControl(
            "image_strength", model,
            f"image_strength: model {model!r} has no image strength (it edits by instruction and reads the source "
            "as a reference)",
            hint="leave image_strength out for this model, or pick an image-to-image model",
        )
    if request.image_strength is None and caps.image_strength:
        raise UnsupportedControl(
            "image_strength", model, f"image_strength: model {model!r} needs an image strength (0 to 1)",
            hint="give image_strength, e.g. 0.5, or leave it out for the default",
        )
    if request.negative_prompt and not caps.negative_prompt:
        raise UnsupportedControl(
            "negative_prompt", model,
            f"negative_prompt: model {model!r} does not read a negative prompt (no classifier-free guidance)",
            hint="say what you want in the prompt instead, and leave negative_prompt out",
        )
    if request.scheduler not in caps.schedulers:
        raise UnsupportedControl(
            "scheduler", model, f"scheduler: model {model!r} does not offer {request.scheduler!r}",
            hint=f"use one of: {', '.join(caps.schedulers)}",
        )
    if len(request.references) > caps.max_references:
        takes = f"takes at most {caps.max_references}" if caps.max_references else "takes none"
        raise UnsupportedControl(
            "references", model,
            f"references: model {model!r} {takes} reference image(s) beside the source, not {len(request.references)}",
            hint="send fewer references, or pick a model that takes more (GET /v1/models lists max_references)",
        )
    if request.reference_strength is not None and not caps.reference_strength:
        raise UnsupportedControl(
            "reference_strength", model, f"reference_strength: model {model!r} has no reference-strength control",
            hint="leave reference_strength out for this model (it applies to IP-Adapter models)",
        )
    if request.angle is not None and not caps.max_angle:
        raise UnsupportedControl(
            "angle", model, f"angle: model {model!r} cannot turn a head (it has no angle control)",
            hint="leave angle out, or pick an instruction-edit model (GET /v1/models lists max_angle)",
        )
    if request.angle is not None and abs(request.angle) > caps.max_angle:
        raise UnsupportedControl(
            "angle", model, f"angle: model {model!r} turns a head at most {caps.max_angle} degrees, not "
            f"{abs(request.angle)}",
            hint="turn in smaller steps (15 or 30 degrees), each from the last output",
        )
    if request.steps < caps.min_steps:
        raise UnsupportedControl(
            "steps", model, f"steps: model {model!r} needs at least {caps.min_steps} steps, not {request.steps}",
            hint=f"use {caps.min_steps} or more (the model's default is {caps.default_steps or 30})",
        )
    for name in ("width", "height"):
        value = getattr(request, name)
        if value is not None and value % caps.size_multiple:
            nearest = max(caps.size_multiple, round(value / caps.size_multiple) * caps.size_multiple)
            raise UnsupportedControl(
                name, model, f"{name}: model {model!r} takes sizes in multiples of {caps.size_multiple}, not {value}",
                hint=f"try {nearest}",
            )


def without_unused_strength(fields: Mapping[str, Any], given: Collection[str],
                            capabilities: Capabilities | None) -> dict[str, Any]:
    """Request fields, before they are parsed, without an image strength the caller did not set (`given`) for a
    model that takes none: a default's or a recipe's strength means nothing to an edit model, and parsed it would
    cut the model's steps. (fit_request does the rest, on the parsed request.)"""
    if capabilities is not None and not capabilities.image_strength and "image_strength" not in given:
        return {**fields, "image_strength": None}
    return dict(fields)


def fit_request(request: GenerationRequest, given: Collection[str], capabilities: Capabilities,
                model: str) -> GenerationRequest:
    """`request` made to fit its model: what the caller set (`given`) is kept and checked; what it left to
    the defaults or to a recipe becomes what the model takes. Raises UnsupportedControl."""
    caps = capabilities
    changes: dict[str, Any] = {}
    if not caps.image_strength and "image_strength" not in given:
        changes["image_strength"] = None
    if not caps.negative_prompt and "negative_prompt" not in given:
        changes["negative_prompt"] = ""
    if caps.default_guidance is not None and "guidance" not in given:
        changes["guidance"] = caps.default_guidance
    if caps.default_steps is not None and "steps" not in given:
        changes["steps"] = caps.default_steps
    if (caps.reference_strength and request.references and request.reference_strength is None
            and caps.default_reference_strength is not None):
        changes["reference_strength"] = caps.default_reference_strength
    if changes:
        request = GenerationRequest.parse({**request.model_dump(), **changes})
    check_controls(request, caps, model)
    return request
