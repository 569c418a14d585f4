"""One Settings object, read from the environment (prefix PHOTOGEN_) once and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting photogen reads. Each can be set as PHOTOGEN_<NAME> in the environment."""

    model_config = SettingsConfigDict(env_prefix="PHOTOGEN_", extra="ignore")

    home: Path = Field(
        default=Path.home() / ".photogen",
        description="Folder for photogen's own data: built models, outputs of the CLI by default.",
    )
    default_model: str = Field(
        default="tiny",
        description="Model used when a request names none: 'tiny', a hub id, a diffusers folder or a .safetensors file.",
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        default="auto", description="Where models run; 'auto' takes CUDA when present, else the CPU."
    )
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        default="auto", description="Weight precision; 'auto' is float16 on CUDA and float32 elsewhere."
    )
    offline: bool = Field(
        default=False, description="Never download: hub ids must already be in the local cache."
    )
    max_pixels: int = Field(
        default=50_000_000, ge=1, description="Uploads with more pixels than this are refused before decoding."
    )

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def outputs_dir(self) -> Path:
        return self.home / "outputs"

    def resolved_device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def resolved_dtype(self) -> str:
        if self.dtype != "auto":
            return self.dtype
        return "float16" if self.resolved_device() == "cuda" else "float32"
