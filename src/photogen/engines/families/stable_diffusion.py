"""Stable Diffusion 1.x, 2.x (SD-Turbo included) and SDXL, all run by the diffusers img2img backend.

Each takes an IP-Adapter (photogen.engines.ip_adapter): loaded with the model, it lets requests add reference
photos and a reference strength; the loader passes it as `ip_adapter`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from photogen.engines.base import Capabilities, ModelInfo, img2img_capabilities
from photogen.engines.ip_adapter import IPAdapterFiles, adapter_capabilities
from photogen.engines.placement import place_pipeline, torch_dtype


def _text_width(folder: Path) -> int | None:
    config = folder / "text_encoder" / "config.json"
    if not config.is_file():
        return None
    return json.loads(config.read_text()).get("hidden_size")


def sd_capabilities(unet_config: dict[str, Any], vae_config: dict[str, Any]) -> Capabilities:
    """Image-to-image with every scheduler; a UNet with guidance as an input (time_cond_proj_dim) reads no
    negative prompt."""
    side = unet_config["sample_size"] * 2 ** (len(vae_config["block_out_channels"]) - 1)
    caps = img2img_capabilities(side * side)
    if unet_config.get("time_cond_proj_dim") is not None:
        caps = replace(caps, negative_prompt=False, guidance="embedded")
    return caps


@dataclass(frozen=True)
class StableDiffusionFamily:
    name: str  # "sd1", "sd2" or "sdxl"
    xl: bool
    text_width: int | None  # the first text encoder's width, which tells SD 1.x (768) from 2.x (1024)
    takes_ip_adapter: bool = True

    def _pipeline_class(self):
        import diffusers

        return diffusers.StableDiffusionXLImg2ImgPipeline if self.xl else diffusers.StableDiffusionImg2ImgPipeline

    def claims_folder(self, model_index: dict[str, Any], folder: Path) -> bool:
        pipeline = model_index.get("_class_name", "")
        if not pipeline.startswith("StableDiffusion") or "Inpaint" in pipeline or "Upscale" in pipeline:
            return False
        if ("XL" in pipeline) != self.xl:
            return False
        if self.xl:
            return True
        is_sd2 = _text_width(folder) == 1024
        return is_sd2 == (self.text_width == 1024)

    def capabilities_of(self, folder: Path) -> Capabilities:
        unet = json.loads((folder / "unet" / "config.json").read_text())
        vae = json.loads((folder / "vae" / "config.json").read_text())
        return sd_capabilities(unet, vae)

    def claims_checkpoint(self, shapes: dict[str, tuple[int, ...]]) -> bool:
        from photogen.engines.single_file import detect_family

        return detect_family(shapes.keys(), shapes) == self.name

    def load_folder(self, folder: Path, info: ModelInfo, *, device: str, dtype: str, options: Any = None,
                    ip_adapter: IPAdapterFiles | None = None):
        pipeline = self._pipeline_class().from_pretrained(
            folder,
            dtype=torch_dtype(dtype),
            local_files_only=True,
            safety_checker=None,
            requires_safety_checker=False,
        )
        return self._ready(pipeline, info, device, options, ip_adapter)

    def load_single_file(
        self, path: Path, info: ModelInfo, *, device: str, dtype: str, cache_dir: Path, options: Any = None,
        ip_adapter: IPAdapterFiles | None = None,
    ):
        from photogen.engines.single_file import load_single_file

        pipeline = load_single_file(path, torch_dtype=torch_dtype(dtype), cache_dir=cache_dir)
        return self._ready(pipeline, info, device, options, ip_adapter)

    def import_libraries(self) -> None:
        import photogen.engines.diffusers_img2img  # noqa: F401  (torch)
        import photogen.engines.optimize  # noqa: F401

        self._pipeline_class()  # diffusers resolves it lazily, importing transformers' text encoders with it

    def _ready(self, pipeline: Any, info: ModelInfo, device: str, options: Any = None,
               ip_adapter: IPAdapterFiles | None = None):
        from photogen.engines.diffusers_img2img import DiffusersImg2ImgGenerator

        capabilities = sd_capabilities(dict(pipeline.unet.config), dict(pipeline.vae.config))
        if ip_adapter is not None:  # before placing: the optimisations must see the adapter's processors
            from photogen.engines.ip_adapter_img2img import IPAdapterImg2ImgGenerator, load_ip_adapter

            load_ip_adapter(pipeline, ip_adapter)
            capabilities = adapter_capabilities(capabilities)
            info = replace(info, extra={**info.extra, "ip_adapter": ip_adapter.describe()})
        optimizations = place_pipeline(pipeline, device, options)
        info = replace(info, family=self.name, native_pixels=capabilities.native_pixels,
                       extra={**info.extra, "optimizations": optimizations})
        generator = IPAdapterImg2ImgGenerator if ip_adapter is not None else DiffusersImg2ImgGenerator
        return generator(pipeline, info, device, capabilities)


FAMILIES = [
    StableDiffusionFamily("sd1", xl=False, text_width=768),
    StableDiffusionFamily("sd2", xl=False, text_width=1024),
    StableDiffusionFamily("sdxl", xl=True, text_width=None),
]
