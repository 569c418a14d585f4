"""Qwen-Image-Edit-Plus: instruction edits with one to three images (diffusers' QwenImageEditPlusPipeline).

Qwen-Image-Edit-2509 and -2511 are published as diffusers repositories (hub id or folder); there are no
single files. The processor of its Qwen2.5-VL text encoder is read by photogen.engines.qwen_vl_processor,
which needs no torchvision.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from photogen.domain.errors import UnsupportedModel
from photogen.engines.base import INSTRUCTION_MAX_ANGLE, Capabilities, ModelInfo
from photogen.engines.placement import place_pipeline, torch_dtype

PIPELINE = "QwenImageEditPlusPipeline"
MAX_REFERENCES = 2  # the model card's one to three images: the source and up to two references
DEFAULT_GUIDANCE, DEFAULT_STEPS = 4.0, 40  # true_cfg_scale and steps as the model card runs Qwen-Image-Edit-2509
NATIVE_SIDE = 1024  # the pipeline reads every image at about 1024x1024 pixels


def qwen_edit_capabilities(transformer_config: dict[str, Any], vae_config: dict[str, Any],
                           scheduler_config: dict[str, Any]) -> Capabilities:
    """Instruction edits, no image strength, true CFG with a negative prompt, the model's own flow-matching
    sampler, sizes in multiples of twice the VAE's scale (latents are packed in 2x2 patches). The native side is
    the pipeline's 1024 unless the VAE config says otherwise in `_photogen_native_side` (photogen's tiny model
    does; diffusers keeps such underscore keys and no library reads them). With a terminal shift in the scheduler
    (Qwen-Image's shift_terminal), one step divides by zero: two at least."""
    if transformer_config.get("guidance_embeds"):
        raise UnsupportedModel("guidance-distilled Qwen-Image checkpoints (guidance_embeds) are not supported",
                               hint="use Qwen-Image-Edit-2509 or -2511")
    scale = 2 ** len(vae_config.get("temperal_downsample", (False, True, True)))
    side = int(vae_config.get("_photogen_native_side", NATIVE_SIDE))
    return Capabilities(
        image_strength=False, negative_prompt=True, schedulers=("default",), size_multiple=scale * 2,
        native_pixels=side * side, max_references=MAX_REFERENCES, guidance="cfg", prompt_kind="instruction",
        default_guidance=DEFAULT_GUIDANCE, default_steps=DEFAULT_STEPS,
        min_steps=2 if scheduler_config.get("shift_terminal") else 1, max_angle=INSTRUCTION_MAX_ANGLE,
    )


@dataclass(frozen=True)
class QwenImageEditPlusFamily:
    name: str = "qwen-image-edit-plus"

    def claims_folder(self, model_index: dict[str, Any], folder: Path) -> bool:
        return model_index.get("_class_name") == PIPELINE

    def capabilities_of(self, folder: Path) -> Capabilities:
        transformer, vae, scheduler = (json.loads((folder / name).read_text()) for name in (
            "transformer/config.json", "vae/config.json", "scheduler/scheduler_config.json"))
        return qwen_edit_capabilities(transformer, vae, scheduler)

    def claims_checkpoint(self, shapes: dict[str, tuple[int, ...]]) -> bool:
        return False

    def load_folder(self, folder: Path, info: ModelInfo, *, device: str, dtype: str, options: Any = None):
        import diffusers

        from photogen.engines.qwen_image_edit import QwenImageEditPlusGenerator
        from photogen.engines.qwen_vl_processor import QwenVLImageProcessor

        pipeline_class = getattr(diffusers, PIPELINE, None)
        if pipeline_class is None:
            raise UnsupportedModel(f"Qwen-Image-Edit-Plus needs a newer diffusers than {diffusers.__version__}",
                                   hint="pip install -U 'diffusers>=0.36'")
        capabilities = self.capabilities_of(folder)
        processor = QwenVLImageProcessor.from_folder(folder / "processor")
        pipeline = pipeline_class.from_pretrained(folder, processor=processor, dtype=torch_dtype(dtype),
                                                  local_files_only=True)
        side = int(capabilities.native_pixels**0.5)
        optimizations = place_pipeline(pipeline, device, options, native_side=side)
        info = replace(info, family=self.name, native_pixels=capabilities.native_pixels,
                       extra={**info.extra, "optimizations": optimizations})
        return QwenImageEditPlusGenerator(pipeline, info, device, capabilities)

    def import_libraries(self) -> None:
        import diffusers

        import photogen.engines.optimize  # noqa: F401
        import photogen.engines.qwen_image_edit  # noqa: F401  (torch)

        getattr(diffusers, PIPELINE, None)  # diffusers resolves it lazily, importing transformers' encoders with it

    def load_single_file(
        self, path: Path, info: ModelInfo, *, device: str, dtype: str, cache_dir: Path, options: Any = None
    ):
        raise UnsupportedModel("Qwen-Image-Edit is published as a diffusers repository, not as single files",
                               hint="use the model's diffusers folder or hub id (Qwen/Qwen-Image-Edit-2509)")


FAMILIES = [QwenImageEditPlusFamily()]
