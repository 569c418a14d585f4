"""FLUX.1 Kontext: instruction edits of one image (diffusers' FluxKontextPipeline).

Loaded from a diffusers folder or hub id. The single files BFL publishes hold the transformer alone, so
they are not taken (use the diffusers repository).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from photogen.domain.errors import UnsupportedModel
from photogen.engines.base import INSTRUCTION_MAX_ANGLE, Capabilities, ModelInfo
from photogen.engines.placement import place_pipeline, torch_dtype

PIPELINE = "FluxKontextPipeline"
DEFAULT_GUIDANCE, DEFAULT_STEPS = 2.5, 28  # as the model card runs FLUX.1 Kontext [dev]


def kontext_capabilities(transformer_config: dict[str, Any], vae_config: dict[str, Any]) -> Capabilities:
    """Instruction edits of the source alone: no image strength, no negative prompt (guidance is distilled into
    the model as an input), the model's own flow-matching sampler, sizes in multiples of twice the VAE's scale."""
    scale = 2 ** (len(vae_config["block_out_channels"]) - 1)
    side = int(vae_config.get("sample_size", 1024))
    embedded = bool(transformer_config.get("guidance_embeds", False))
    return Capabilities(
        image_strength=False, negative_prompt=False, schedulers=("default",), size_multiple=scale * 2,
        native_pixels=side * side, max_references=0, guidance="embedded" if embedded else "none",
        prompt_kind="instruction", default_guidance=DEFAULT_GUIDANCE, default_steps=DEFAULT_STEPS,
        max_angle=INSTRUCTION_MAX_ANGLE,
    )


@dataclass(frozen=True)
class FluxKontextFamily:
    name: str = "flux-kontext"

    def claims_folder(self, model_index: dict[str, Any], folder: Path) -> bool:
        return model_index.get("_class_name") == PIPELINE

    def capabilities_of(self, folder: Path) -> Capabilities:
        transformer = json.loads((folder / "transformer" / "config.json").read_text())
        return kontext_capabilities(transformer, json.loads((folder / "vae" / "config.json").read_text()))

    def claims_checkpoint(self, shapes: dict[str, tuple[int, ...]]) -> bool:
        return False

    def load_folder(self, folder: Path, info: ModelInfo, *, device: str, dtype: str, options: Any = None):
        import diffusers

        from photogen.engines.flux_kontext import FluxKontextGenerator

        pipeline_class = getattr(diffusers, PIPELINE, None)
        if pipeline_class is None:
            raise UnsupportedModel(f"FLUX.1 Kontext needs a newer diffusers than {diffusers.__version__}",
                                   hint="pip install -U 'diffusers>=0.35'")
        pipeline = pipeline_class.from_pretrained(folder, dtype=torch_dtype(dtype), local_files_only=True)
        capabilities = self.capabilities_of(folder)
        side = int(capabilities.native_pixels**0.5)
        optimizations = place_pipeline(pipeline, device, options, native_side=side)
        info = replace(info, family=self.name, native_pixels=capabilities.native_pixels,
                       extra={**info.extra, "optimizations": optimizations})
        return FluxKontextGenerator(pipeline, info, device, capabilities)

    def import_libraries(self) -> None:
        import diffusers

        import photogen.engines.flux_kontext  # noqa: F401  (torch)
        import photogen.engines.optimize  # noqa: F401

        getattr(diffusers, PIPELINE, None)  # diffusers resolves it lazily, importing transformers' encoders with it

    def load_single_file(
        self, path: Path, info: ModelInfo, *, device: str, dtype: str, cache_dir: Path, options: Any = None
    ):
        raise UnsupportedModel("FLUX.1 Kontext single files hold the transformer alone",
                               hint="use the model's diffusers folder or hub id")


FAMILIES = [FluxKontextFamily()]
