"""The `tiny` model: Stable Diffusion 1.x in miniature, built from configs with fixed seeds.

Its weights are random, so its pictures mean nothing: it exists to run the whole workflow and the
real pipeline code offline and in seconds. It is saved once as an ordinary diffusers folder and
then loaded through the same loader as any other model.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from filelock import FileLock

TINY_MARKER = "photogen_model.json"
TINY_VERSION = 1
TINY_DESCRIPTION = {
    "name": "tiny",
    "version": TINY_VERSION,
    "family": "sd1",
    "random_weights": True,
    "licence": "Apache-2.0 (built by photogen from configs; random weights)",
    "note": "Random weights with a fixed seed: outputs are not meaningful pictures.",
}


def build_tiny_pipeline(seed: int = 0):
    """A StableDiffusionImg2ImgPipeline with tiny random modules (about 2.5M parameters)."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionImg2ImgPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    from photogen.engines.tokenizer import VOCAB_SIZE, clip_tokenizer

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=64,
        in_channels=4,
        out_channels=4,
        layers_per_block=2,
        block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
    )
    torch.manual_seed(seed)
    vae = AutoencoderKL(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        sample_size=128,
    )
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=49406,
            eos_token_id=49407,
            pad_token_id=49407,
            hidden_size=32,
            intermediate_size=37,
            layer_norm_eps=1e-05,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=VOCAB_SIZE,
            max_position_embeddings=77,
            projection_dim=32,
        )
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        timestep_spacing="leading",
        steps_offset=1,
    )
    pipeline = StableDiffusionImg2ImgPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=clip_tokenizer(),
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    for module in (unet, vae, text_encoder):
        module.eval()  # as from_pretrained leaves them: inference kernels, no dropout
    return pipeline


def is_current_tiny(folder: Path) -> bool:
    marker = folder / TINY_MARKER
    if not marker.is_file():
        return False
    return json.loads(marker.read_text()).get("version") == TINY_VERSION


def ensure_tiny_model(models_dir: Path) -> Path:
    """Build and save the tiny model under `models_dir/tiny` once; return that folder."""
    folder = models_dir / "tiny"
    if is_current_tiny(folder):
        return folder
    models_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(models_dir / ".tiny.lock")):
        if is_current_tiny(folder):
            return folder
        staging = Path(tempfile.mkdtemp(prefix=".tiny-", dir=models_dir))
        build_tiny_pipeline().save_pretrained(staging, safe_serialization=True)
        (staging / TINY_MARKER).write_text(json.dumps(TINY_DESCRIPTION, indent=2))
        if folder.exists():
            _remove_tree(folder)
        os.replace(staging, folder)
    return folder


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path)
