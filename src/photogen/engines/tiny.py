"""The tiny models: each family in miniature, built from configs with fixed seeds.

`tiny` is Stable Diffusion 1.x img2img; `tiny-flux2-klein` and `tiny-flux-kontext` are the instruction-edit
families, built from the config folders shipped in model_configs/ (tiny-<name>/) with tokenizers made
offline (tiny_tokenizers). Their weights are random, so their pictures mean nothing: they exist to run
the whole workflow and the real pipeline code offline and in seconds. Each is saved once as an ordinary
diffusers folder and then loaded through the same loader as any other model.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from filelock import FileLock

TINY_MARKER = "photogen_model.json"
TINY_VERSION = 1
TINY_LICENCE = "Apache-2.0 (built by photogen from configs; random weights)"
TINY_NATIVE_SIDE = 128  # 64 latents x 2 (two VAE blocks)
TINY_DESCRIPTION = {
    "name": "tiny",
    "version": TINY_VERSION,
    "family": "sd1",
    "random_weights": True,
    "licence": TINY_LICENCE,
    "note": "Random weights with a fixed seed: outputs are not meaningful pictures.",
}
# The tiny edit models: name -> family; the configs are model_configs/<name>/.
TINY_EDIT_FAMILIES = {"tiny-flux2-klein": "flux2-klein", "tiny-flux-kontext": "flux-kontext"}
TINY_NAMES = ("tiny", *TINY_EDIT_FAMILIES)


def tiny_description(name: str) -> dict:
    """What the tiny model `name`'s marker file says about it."""
    if name == "tiny":
        return dict(TINY_DESCRIPTION)
    return {**TINY_DESCRIPTION, "name": name, "family": TINY_EDIT_FAMILIES[name]}


def tiny_config_folder(name: str) -> Path:
    """The shipped configs (JSON only, no weights) the tiny edit model `name` is built from."""
    from importlib import resources

    return Path(str(resources.files("photogen.engines") / "model_configs" / name))


TINY_BUILD_FILE = "photogen_tiny.json"  # in a config folder: the seed and per-component weight scales


def build_from_configs(folder: Path):
    """A pipeline built from a diffusers config folder (model_index.json and each component's config) with
    random weights, and tokenizers from photogen.engines.tiny_tokenizers.

    The folder's photogen_tiny.json gives the seed and a scale for each component's matrices: a random
    transformer at the default initialisation barely mixes its image tokens, so the references would hardly
    change its output; scaled up, they visibly do (the tests check that references reach the model)."""
    import diffusers
    import torch
    import transformers

    from photogen.engines.tiny_tokenizers import tiny_tokenizer

    build = json.loads((folder / TINY_BUILD_FILE).read_text()) if (folder / TINY_BUILD_FILE).is_file() else {}
    seed, scales = build.get("seed", 0), build.get("weight_scale", {})
    index = json.loads((folder / "model_index.json").read_text())
    components: dict = {}
    settings = {}
    for name, value in index.items():
        if name.startswith("_"):
            continue
        if not isinstance(value, list):  # a pipeline setting, such as FLUX.2's is_distilled
            settings[name] = value
            continue
        library, class_name = value
        if library is None:
            components[name] = None
        elif name.startswith("tokenizer"):
            components[name] = tiny_tokenizer(class_name)
        elif name == "scheduler":
            config = json.loads((folder / name / "scheduler_config.json").read_text())
            components[name] = getattr(diffusers, class_name).from_config(config)
        else:
            config = json.loads((folder / name / "config.json").read_text())
            torch.manual_seed(seed)
            if library == "transformers":
                cls = getattr(transformers, class_name)
                module = cls(cls.config_class(**config))
            else:
                module = getattr(diffusers, class_name).from_config(config)
            if name in scales:
                with torch.no_grad():
                    for parameter in module.parameters():
                        if parameter.ndim == 2:
                            parameter.mul_(scales[name])
            components[name] = module.eval()
    return getattr(diffusers, index["_class_name"])(**components, **settings)


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


def ensure_tiny_model(models_dir: Path, name: str = "tiny") -> Path:
    """Build and save the tiny model `name` under `models_dir/<name>` once; return that folder."""
    folder = models_dir / name
    if is_current_tiny(folder):
        return folder
    models_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(models_dir / f".{name}.lock")):
        if is_current_tiny(folder):
            return folder
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=models_dir))
        pipeline = build_tiny_pipeline() if name == "tiny" else build_from_configs(tiny_config_folder(name))
        pipeline.save_pretrained(staging, safe_serialization=True)
        (staging / TINY_MARKER).write_text(json.dumps(tiny_description(name), indent=2))
        if folder.exists():
            _remove_tree(folder)
        os.replace(staging, folder)
    return folder


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path)
