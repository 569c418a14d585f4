"""FLUX.2 [klein]: instruction edits with several reference images (diffusers' Flux2KleinPipeline).

The default edit family for reference work. Loaded from a diffusers folder or hub id; BFL's single-file
checkpoints hold the transformer alone, so they are not taken (use the diffusers repository).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from photogen.domain.errors import UnsupportedModel
from photogen.engines.base import INSTRUCTION_MAX_ANGLE, Capabilities, ModelInfo
from photogen.engines.placement import place_pipeline, torch_dtype

PIPELINE = "Flux2KleinPipeline"
MAX_REFERENCES = 3  # images beside the source: four images in all, each a full image's worth of tokens
BASE_DEFAULTS = {"guidance": 4.0, "steps": 50}  # the base checkpoints, as their model cards run them
DISTILLED_DEFAULTS = {"guidance": 1.0, "steps": 4}  # the step-distilled checkpoints: no guidance


def klein_capabilities(model_index: dict[str, Any], vae_config: dict[str, Any]) -> Capabilities:
    """Instruction edits, no image strength; true CFG with a negative prompt unless step-distilled; sizes in
    multiples of twice the VAE's scale (latents are packed in 2x2 patches)."""
    distilled = bool(model_index.get("is_distilled", False))
    scale = 2 ** (len(vae_config["block_out_channels"]) - 1)
    side = int(vae_config.get("sample_size", 1024))
    defaults = DISTILLED_DEFAULTS if distilled else BASE_DEFAULTS
    return Capabilities(
        image_strength=False, negative_prompt=not distilled, schedulers=("default",), size_multiple=scale * 2,
        native_pixels=side * side, max_references=MAX_REFERENCES, guidance="none" if distilled else "cfg",
        prompt_kind="instruction", default_guidance=defaults["guidance"], default_steps=defaults["steps"],
        max_angle=INSTRUCTION_MAX_ANGLE,
    )


@dataclass(frozen=True)
class Flux2KleinFamily:
    name: str = "flux2-klein"

    def claims_folder(self, model_index: dict[str, Any], folder: Path) -> bool:
        return model_index.get("_class_name") == PIPELINE

    def capabilities_of(self, folder: Path) -> Capabilities:
        model_index = json.loads((folder / "model_index.json").read_text())
        return klein_capabilities(model_index, json.loads((folder / "vae" / "config.json").read_text()))

    def claims_checkpoint(self, shapes: dict[str, tuple[int, ...]]) -> bool:
        return False

    def load_folder(self, folder: Path, info: ModelInfo, *, device: str, dtype: str, options: Any = None):
        import diffusers

        from photogen.engines.flux2_klein import Flux2KleinGenerator

        pipeline_class = getattr(diffusers, PIPELINE, None)
        if pipeline_class is None:
            raise UnsupportedModel(f"FLUX.2 [klein] needs a newer diffusers than {diffusers.__version__}",
                                   hint="pip install -U 'diffusers>=0.37'")
        pipeline = pipeline_class.from_pretrained(folder, dtype=torch_dtype(dtype), local_files_only=True)
        capabilities = self.capabilities_of(folder)
        side = int(capabilities.native_pixels**0.5)
        optimizations = place_pipeline(pipeline, device, options, native_side=side)
        info = replace(info, family=self.name, native_pixels=capabilities.native_pixels,
                       extra={**info.extra, "optimizations": optimizations})
        return Flux2KleinGenerator(pipeline, info, device, capabilities)

    def import_libraries(self) -> None:
        import diffusers

        import photogen.engines.flux2_klein  # noqa: F401  (torch)
        import photogen.engines.optimize  # noqa: F401

        getattr(diffusers, PIPELINE, None)  # diffusers resolves it lazily, importing transformers' encoders with it

    def load_single_file(
        self, path: Path, info: ModelInfo, *, device: str, dtype: str, cache_dir: Path, options: Any = None
    ):
        raise UnsupportedModel("FLUX.2 [klein] single files hold the transformer alone",
                               hint="use the model's diffusers folder or hub id")


FAMILIES = [Flux2KleinFamily()]
