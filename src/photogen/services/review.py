"""Review habits as features: scores on every output, sweeps of one control, change one thing, upscale."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from photogen.domain.errors import InvalidRequest
from photogen.domain.params import GenerationRequest

SWEEPABLE = ("image_strength", "seed", "guidance", "steps", "angle")  # angle: a ladder of head turns
MAX_SWEEP_VALUES = 12


def sweep_requests(base: GenerationRequest, field: str, values: Sequence[Any]) -> list[GenerationRequest]:
    """One request per value of `field`, everything else as in `base` (one image each, same seed)."""
    if field not in SWEEPABLE:
        raise InvalidRequest(f"cannot sweep {field!r}", hint=f"sweep one of: {', '.join(SWEEPABLE)}")
    if not 2 <= len(values) <= MAX_SWEEP_VALUES:
        raise InvalidRequest(f"a sweep takes 2 to {MAX_SWEEP_VALUES} values, not {len(values)}",
                             hint="e.g. image_strength 0.3, 0.45, 0.6, 0.75")
    if len(set(values)) != len(values):
        raise InvalidRequest("the sweep repeats a value", hint="give each value once")
    fields = base.model_dump()
    return [GenerationRequest.parse({**fields, field: value, "num_images": 1}) for value in values]


def vary_request(base: GenerationRequest, changes: dict[str, Any]) -> GenerationRequest:
    """`base` with exactly one field changed; the seed stays unless it is the field changed."""
    if len(changes) != 1:
        raise InvalidRequest(
            f"change one thing at a time, not {len(changes)}", hint="give exactly one field with its new value"
        )
    (field, value), = changes.items()
    if field not in GenerationRequest.model_fields or field in ("recipe",):
        raise InvalidRequest(f"{field!r} is not a control that can be changed", hint="e.g. image_strength, prompt, guidance")
    if getattr(base, field) == value:
        raise InvalidRequest(f"{field} is already {value!r}", hint="give a different value")
    return GenerationRequest.parse({**base.model_dump(), field: value})


def label_for(field: str, value: Any) -> str:
    if field == "angle":
        return f"angle {value:+d}" if value else "angle 0"
    names = {"image_strength": "strength", "seed": "seed", "guidance": "CFG", "steps": "steps"}
    return f"{names.get(field, field)} {value}"


def grid_image(images: Sequence[Image.Image], labels: Sequence[str], columns: int | None = None) -> Image.Image:
    """The images side by side (rows of `columns`), each with its label underneath."""
    columns = columns or min(len(images), 4)
    width, height = images[0].size
    strip = max(18, height // 10)
    font = ImageFont.load_default(size=max(11, strip * 2 // 3))
    rows = -(-len(images) // columns)
    grid = Image.new("RGB", (columns * width, rows * (height + strip)), "white")
    draw = ImageDraw.Draw(grid)
    for index, (image, label) in enumerate(zip(images, labels)):
        x, y = (index % columns) * width, (index // columns) * (height + strip)
        grid.paste(image.convert("RGB").resize((width, height)), (x, y))
        draw.text((x + 4, y + height + 2), label, fill="black", font=font)
    return grid


NO_FACE = "no face"  # a crop searched for a face ahead of time that showed none (`source_face` below)


def score_images(crop: Image.Image, outputs: Sequence[Image.Image], *, source_face: Any = None,
                 structure: Any = None) -> list[dict[str, Any]]:
    """Identity (faces) and structure similarity of each output to the crop the model saw. `source_face` is the
    crop's face embedding when it was found ahead of time (NO_FACE when it has none), `structure` its
    StructureSource; None finds either here."""
    from photogen.scoring.review import score_outputs

    source = np.asarray(crop.convert("RGB"))
    known = {} if source_face is None else {"source_face": None if source_face == NO_FACE else source_face}
    return score_outputs(source, [np.asarray(o.convert("RGB").resize(crop.size)) for o in outputs],
                         structure=structure, **known)


def parse_print(spec: str | None) -> dict[str, Any] | None:
    """'12x16in@300' -> {'width': 12, 'height': 16, 'unit': 'in', 'dpi': 300}."""
    import re

    if not spec:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)x(\d+(?:\.\d+)?)(in|cm)?(?:@(\d+))?\s*", spec)
    if not match:
        raise InvalidRequest(f"print size {spec!r} is not WxH[in|cm][@DPI]", hint="e.g. 12x16in@300 or 50x70cm")
    return {"width": float(match[1]), "height": float(match[2]), "unit": match[3] or "in", "dpi": int(match[4] or 300)}


def upscale(
    image: Image.Image,
    *,
    factor: int,
    method: str = "auto",
    generator=None,
    seed: int = 0,
    prompt: str = "",
    model_path: str | None = None,
    on_progress=None,
) -> tuple[Image.Image, dict[str, Any]]:
    """Enlarge `image` x`factor`; returns the image and a record of how (for lineage)."""
    from photogen.engines.upscalers import choose_upscaler

    options: dict[str, Any] = {}
    refines = generator is not None and generator.capabilities.image_strength
    if method in ("tiled_refine", "auto") and refines and model_path is None:
        options = {"seed": seed, **({"prompt": prompt} if prompt else {})}
    upscaler = choose_upscaler(method, generator=generator, model_path=model_path, **options)
    result = upscaler.upscale(image, factor, on_progress=on_progress)
    return result, {"factor": factor, **upscaler.record()}


def print_advice(size: tuple[int, int], print_spec: dict[str, Any] | None, factor: int | None) -> dict[str, Any] | None:
    if print_spec is None:
        return None
    from photogen.engines.upscalers import print_guidance

    return print_guidance(size[0], size[1], print_spec["width"], print_spec["height"], print_spec["unit"],
                          print_spec["dpi"], chosen_factor=factor).as_dict()
