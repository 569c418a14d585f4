"""Colourisation of a black-and-white scan by a model that follows instructions.

The model sees the scan at its own working size and is told to colour it. Only its colour is kept: its
output's chroma (Lab a and b) is enlarged to the scan's size and put under the scan's own full-resolution
lightness, so every line and grain of the scan stays as it was. It runs at least the model's fewest steps
(Capabilities.min_steps: Qwen-Image-Edit's sampler needs two), and the record names the steps run. The
structure score (SSIM on luma, photogen.scoring.structure) between the scan and the colourised result says how
much of its structure is kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from photogen.domain.errors import PhotogenError
from photogen.domain.params import GenerationRequest
from photogen.engines.base import Generator, InterruptCheck, PreparedRequest
from photogen.scoring.structure import structure_similarity

COLOURISE_PROMPT = "colourise this black-and-white photograph with natural, period-appropriate colours"


class ColouriseUnsupported(PhotogenError):
    code = "colourise_unsupported"


def check_colourise(generator_name: str, prompt_kind: str) -> None:
    """Colourising needs a model that follows instructions (Capabilities.prompt_kind == "instruction")."""
    if prompt_kind != "instruction":
        raise ColouriseUnsupported(
            f"model {generator_name} takes descriptions, not instructions, so it cannot be told to colourise",
            hint="choose an instruction-edit model (FLUX.1 Kontext, FLUX.2 [klein], Qwen-Image-Edit) or drop "
                 "colourise",
        )


def colourise(rgb: np.ndarray, generator: Generator, *, seed: int = 0, steps: int | None = None, prompt: str = COLOURISE_PROMPT,
              interrupt: InterruptCheck | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    import cv2

    caps = generator.capabilities
    check_colourise(generator.info.id, caps.prompt_kind)
    height, width = rgb.shape[:2]
    size = generator.native_size((float(width), float(height)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if size[0] < width else cv2.INTER_CUBIC)
    request = GenerationRequest(prompt=prompt, image_strength=None, seed=seed,
                                steps=max(steps or caps.default_steps or 20, caps.min_steps), guidance=caps.default_guidance or 4.0,
                                width=size[0], height=size[1], model=generator.info.id)
    images = generator.generate([PreparedRequest(request=request, image=Image.fromarray(small, "RGB"))],
                                None, interrupt)
    coloured = np.asarray(images[0][0].convert("RGB").resize((width, height), Image.Resampling.BICUBIC))
    lab_scan = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    lab_model = cv2.cvtColor(coloured, cv2.COLOR_RGB2LAB)
    lab = np.dstack([lab_scan[..., 0], lab_model[..., 1], lab_model[..., 2]])
    out = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
    structure = structure_similarity(rgb, out)
    return out, {"model": generator.info.id, "prompt": prompt, "seed": seed, "steps": request.steps,
                 "working_size": list(size), "structure": round(structure, 4),
                 "kept": "the scan's lightness at full resolution; the model's colour"}
