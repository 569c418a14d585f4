"""Single-file Stable Diffusion checkpoints (the `.safetensors` layout A1111 and ComfyUI keep), offline.

A single file holds weights but no configuration, so loading one takes three decisions:

1. the family (SD 1.x, SD 2.x or SDXL), read from the weight names and shapes in the header;
2. the config folder: one embedded by `export_single_file` in the file's metadata, else the
   bundled folder for the family (`model_configs/`);
3. for SD 2.x, which bundled variant. The weights of 2.1 (768 px, v-prediction), 2.1-base
   (512 px, epsilon) and SD-Turbo (512 px, epsilon, trailing timesteps) have the same names and
   shapes, so the choice comes from outside the weights, first match wins:
   - an explicit `variant` ("sd21", "sd21-base" or "sd-turbo");
   - a `.yaml` beside the checkpoint with the same stem, as A1111 reads it:
     `parameterization: "v"` means "sd21", anything else an epsilon model ("sd-turbo" when the
     file name says "turbo", else "sd21-base");
   - the file name: "turbo" means "sd-turbo", "base" or "512" means "sd21-base";
   - otherwise "sd21", the 768-v release most SD 2.x checkpoints derive from.

diffusers then converts the weights (`from_single_file` with `config=<folder>`,
`local_files_only=True`); tokenizers come from `clip_tokenizer`, never from the network.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from photogen.domain.errors import ModelNotFound, UnsupportedModel
from photogen.engines.ldm_keys import TEXT_ENCODER_LAYOUTS, UNET_PREFIX, to_ldm_state_dict

MODEL_CONFIGS = Path(__file__).parent / "model_configs"
# Bundled config folders and the family each serves.
BUNDLED_CONFIGS = {"sd15": "sd1", "sd21": "sd2", "sd21-base": "sd2", "sd-turbo": "sd2", "sdxl-base": "sdxl"}
DEFAULT_CONFIG = {"sd1": "sd15", "sd2": "sd21", "sdxl": "sdxl-base"}
CONFIG_METADATA_KEY = "photogen.config"
FAMILY_METADATA_KEY = "photogen.family"

_MAX_HEADER_BYTES = 100 * 1024 * 1024
_PIPELINE_OPTIONS = ("force_zeros_for_empty_prompt", "requires_aesthetics_score")
_TEXT_ENCODER_CLASSES = {"CLIPTextModel", "CLIPTextModelWithProjection"}
_SUPPORTED = "photogen loads SD 1.x, SD 2.x (SD-Turbo included) and SDXL base checkpoints"


@dataclass(frozen=True)
class CheckpointHeader:
    """What a safetensors file says about itself, read without loading any weights."""

    shapes: dict[str, tuple[int, ...]]
    metadata: dict[str, str]


def read_header(path: Path) -> CheckpointHeader:
    """The weight names, shapes and metadata of a `.safetensors` file; checks that the file is whole."""
    path = Path(path)
    if not path.is_file():
        raise ModelNotFound(f"no checkpoint file {path.name}", hint="check the path to the .safetensors file")
    unreadable = UnsupportedModel(
        f"{path.name} is not a readable safetensors file",
        hint="the file may be incomplete or not a checkpoint; download it again",
    )
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise unreadable
        (length,) = struct.unpack("<Q", prefix)
        if not 2 <= length <= min(_MAX_HEADER_BYTES, size - 8):
            raise unreadable
        try:
            header = json.loads(handle.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise unreadable from None
    if not isinstance(header, dict):
        raise unreadable
    metadata = header.pop("__metadata__", None) or {}
    shapes: dict[str, tuple[int, ...]] = {}
    data_end = 0
    try:
        for name, entry in header.items():
            shapes[name] = tuple(int(n) for n in entry["shape"])
            data_end = max(data_end, int(entry["data_offsets"][1]))
    except (TypeError, KeyError, IndexError, ValueError):
        raise unreadable from None
    if data_end > size - 8 - length or not isinstance(metadata, dict):
        raise unreadable
    return CheckpointHeader(shapes, {str(k): str(v) for k, v in metadata.items()})


def detect_family(keys: Iterable[str], shapes: Mapping[str, Sequence[int]] | None = None) -> str:
    """Which family ("sd1", "sd2" or "sdxl") an original-layout checkpoint is, from its weight names.

    With `shapes` (name -> shape) it also turns away models whose UNet takes extra input
    channels (inpainting, instruct-pix2pix, depth); without them those pass as their base family.
    """
    keys = set(keys)

    def has(prefix: str) -> bool:
        return any(k.startswith(prefix) for k in keys)

    if has("model.diffusion_model.joint_blocks.") or has("joint_blocks."):
        raise UnsupportedModel("this checkpoint is a Stable Diffusion 3 model", hint=_SUPPORTED)
    if has("model.diffusion_model.double_blocks.") or has("double_blocks."):
        raise UnsupportedModel("this checkpoint is a FLUX-style transformer model", hint=_SUPPORTED)
    if has("control_model."):
        raise UnsupportedModel("this checkpoint is a ControlNet, not a full model", hint=_SUPPORTED)
    if any(".lora_down." in k or ".lora_A." in k or k.startswith("lora_") for k in keys):
        raise UnsupportedModel(
            "this file is a LoRA, not a full model", hint="load it on top of a base model, not as one"
        )
    if not has(UNET_PREFIX + "input_blocks."):
        if has("encoder.down.") or has("decoder.up."):
            raise UnsupportedModel(
                "this file holds only a VAE, not a full checkpoint", hint="use a full checkpoint"
            )
        if has("down_blocks.") or has("text_model.") or has("encoder.layers."):
            raise UnsupportedModel(
                "this file holds a single component in diffusers layout, not a full checkpoint",
                hint="load the diffusers folder it came from, or use a full single-file checkpoint",
            )
        raise UnsupportedModel(
            "this file is not a Stable Diffusion checkpoint (no UNet weights under model.diffusion_model.)",
            hint=_SUPPORTED,
        )
    conv_in = UNET_PREFIX + "input_blocks.0.0.weight"
    if shapes is not None and conv_in in shapes and len(shapes[conv_in]) == 4 and shapes[conv_in][1] != 4:
        channels = shapes[conv_in][1]
        kind = {9: "an inpainting model", 8: "an instruct-pix2pix model", 5: "a depth-to-image model"}.get(
            channels, f"a model whose UNet takes {channels} input channels"
        )
        raise UnsupportedModel(
            f"this checkpoint is {kind}", hint="photogen's img2img needs a UNet with 4 input channels"
        )
    if has("conditioner.embedders.1.model."):
        return "sdxl"
    if has("conditioner.embedders.0.model.") or has("conditioner."):
        raise UnsupportedModel(
            "this checkpoint is an SDXL refiner (or another SDXL variant), not SDXL base",
            hint="use the SDXL base model or a fine-tune of it",
        )
    if has(UNET_PREFIX + "label_emb."):
        raise UnsupportedModel(
            "this checkpoint conditions on class labels (an upscaler or unCLIP model)", hint=_SUPPORTED
        )
    if has("cond_stage_model.model."):
        return "sd2"
    if has("cond_stage_model.transformer."):
        return "sd1"
    raise UnsupportedModel(
        "this checkpoint has no text encoder weights (cond_stage_model.*)",
        hint="use a full checkpoint with its text encoder, not a UNet-only file",
    )


def bundled_config_folder(name: str) -> Path:
    if name not in BUNDLED_CONFIGS:
        raise UnsupportedModel(
            f"no bundled config named {name!r}", hint=f"choose one of {', '.join(sorted(BUNDLED_CONFIGS))}"
        )
    return MODEL_CONFIGS / name


def sd2_variant(path: Path) -> str:
    """The bundled SD 2.x config for `path`, from a same-stem `.yaml` or the file name (see module doc)."""
    stem = path.stem.lower()
    turbo = "turbo" in stem
    original_config = path.with_suffix(".yaml")
    if original_config.is_file():
        text = original_config.read_text(errors="replace")
        if re.search(r"^\s*parameterization:\s*[\"']?v[\"']?\s*(#.*)?$", text, re.MULTILINE):
            return "sd21"
        return "sd-turbo" if turbo else "sd21-base"
    if turbo:
        return "sd-turbo"
    if re.search(r"(^|[^a-z0-9])(base|512)([^a-z0-9]|$)", stem):
        return "sd21-base"
    return "sd21"


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "photogen" / "single-file-configs"


def config_folder_for(path: Path, *, variant: str | None = None, cache_dir: Path | None = None) -> Path:
    """The diffusers config folder to load `path` with: `variant` if given, else the config the
    file carries (written into `cache_dir`), else the bundled folder for its family."""
    path = Path(path)
    header = read_header(path)
    family = detect_family(header.shapes, header.shapes)
    if variant is not None:
        folder = bundled_config_folder(variant)
        if BUNDLED_CONFIGS[variant] != family:
            raise UnsupportedModel(
                f"config {variant!r} is for {BUNDLED_CONFIGS[variant]} "
                f"but {path.name} is an {family} checkpoint",
                hint=f"leave the variant out, or pick one for {family}",
            )
        return folder
    if CONFIG_METADATA_KEY in header.metadata:
        return _materialise_embedded(header.metadata, family, cache_dir or default_cache_dir())
    return bundled_config_folder(sd2_variant(path) if family == "sd2" else DEFAULT_CONFIG[family])


def _materialise_embedded(metadata: Mapping[str, str], family: str, cache_dir: Path) -> Path:
    """Write the embedded configs as a diffusers folder named by their hash; reuse it if present.

    The metadata comes from an untrusted file, so only known file names are written and the
    pipeline's component classes come from the bundled template, never from the file.
    """
    bad = UnsupportedModel(
        "the config embedded in this checkpoint is damaged",
        hint="export the file again, or remove its photogen.config metadata to use the bundled config",
    )
    try:
        embedded = json.loads(metadata[CONFIG_METADATA_KEY])
    except json.JSONDecodeError:
        raise bad from None
    if metadata.get(FAMILY_METADATA_KEY, family) != family or not isinstance(embedded, dict):
        raise bad
    components = ["unet", "vae", "scheduler", *TEXT_ENCODER_LAYOUTS[family]]
    configs = {component: embedded.get(component) for component in components}
    if not all(isinstance(config, dict) for config in configs.values()):
        raise bad
    options = embedded.get("model_index")
    files = {"model_index.json": _model_index(family, configs["scheduler"].get("_class_name"), options)}
    for component, config in configs.items():
        name = "scheduler_config.json" if component == "scheduler" else "config.json"
        files[f"{component}/{name}"] = config
    text = {name: json.dumps(content, indent=2, sort_keys=True) + "\n" for name, content in files.items()}
    digest = hashlib.sha256(json.dumps(text, sort_keys=True).encode()).hexdigest()[:24]
    folder = cache_dir / digest
    if (folder / "model_index.json").is_file():
        return folder
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=cache_dir))
    for name, content in text.items():
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        (staging / name).write_text(content)
    try:
        os.replace(staging, folder)
    except OSError:  # another process wrote the same folder first
        _remove_tree(staging)
    return folder


def _model_index(family: str, scheduler: Any, options: Any) -> dict[str, Any]:
    """The bundled model index for `family`, with the embedded scheduler class (if diffusers has
    a scheduler of that name) and the pipeline's boolean options."""
    import diffusers

    index = json.loads((bundled_config_folder(DEFAULT_CONFIG[family]) / "model_index.json").read_text())
    scheduler_class = getattr(diffusers, str(scheduler), None)
    if not (isinstance(scheduler_class, type) and issubclass(scheduler_class, diffusers.SchedulerMixin)):
        raise UnsupportedModel(
            f"the config embedded in this checkpoint names an unknown scheduler {scheduler!r}",
            hint="export the file again with a diffusers scheduler",
        )
    index["scheduler"] = ["diffusers", scheduler_class.__name__]
    for option in _PIPELINE_OPTIONS:
        if option in index and isinstance(options, dict) and isinstance(options.get(option), bool):
            index[option] = options[option]
    return index


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _meta_components(folder: Path, family: str) -> dict[str, torch.nn.Module]:
    """The folder's UNet, VAE and text encoders built on the meta device (shapes only, no memory)."""
    import transformers
    from diffusers import AutoencoderKL, UNet2DConditionModel

    index = json.loads((folder / "model_index.json").read_text())
    with torch.device("meta"):
        components = {
            "unet": UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet")),
            "vae": AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae")),
        }
        for name in TEXT_ENCODER_LAYOUTS[family]:
            class_name = index.get(name, [None, None])[1]
            if class_name not in _TEXT_ENCODER_CLASSES:
                raise UnsupportedModel(
                    f"the config folder names {class_name!r} as {name}", hint="use a CLIP text encoder config"
                )
            model_class = getattr(transformers, class_name)
            config = transformers.CLIPTextConfig.from_pretrained(
                folder, subfolder=name, local_files_only=True
            )
            components[name] = model_class(config)
    return components


def check_weights(
    header: CheckpointHeader, folder: Path, family: str, *, name: str = "the checkpoint"
) -> None:
    """Fail before loading if the file lacks weights the config needs, or holds them in other sizes
    (diffusers would otherwise leave missing weights at their random initial values)."""
    try:
        expected = to_ldm_state_dict(family, _meta_components(folder, family))
    except (ValueError, TypeError, KeyError, OSError) as exc:
        raise UnsupportedModel(
            f"the {folder.name} config folder does not describe a {family} model ({type(exc).__name__})",
            hint="check the config folder, or leave it out to use the bundled one",
        ) from exc
    shapes = _with_text_model_aliases(header.shapes)
    missing = sorted(k for k in expected if k not in shapes)
    if missing:
        raise UnsupportedModel(
            f"{name} lacks {len(missing)} of the {len(expected)} weights the {folder.name} config expects "
            f"(first: {missing[0]})",
            hint="the file may be partial (UNet only, no VAE) or of another variant; use a full checkpoint "
            "or a matching config folder",
        )
    wrong = sorted(k for k, t in expected.items() if t.numel() != _numel(shapes[k]))
    if wrong:
        k = wrong[0]
        raise UnsupportedModel(
            f"{name} does not match the {folder.name} config: {len(wrong)} weights differ in size "
            f"(first: {k}, {list(shapes[k])} vs {list(expected[k].shape)})",
            hint="the file may be a different variant; pass a matching config folder or variant",
        )


_OLD_CLIP_PREFIX = "cond_stage_model.transformer."


def _with_text_model_aliases(shapes: Mapping[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """Older SD 1.x files name CLIP weights `cond_stage_model.transformer.embeddings...`, without
    `text_model.` (see `_text_encoder_from_older_names`)."""
    aliases = {
        _OLD_CLIP_PREFIX + "text_model." + name.removeprefix(_OLD_CLIP_PREFIX): shape
        for name, shape in shapes.items()
        if name.startswith(_OLD_CLIP_PREFIX) and not name.startswith(_OLD_CLIP_PREFIX + "text_model.")
    }
    return {**aliases, **shapes}


def _has_older_clip_names(header: CheckpointHeader) -> bool:
    return _OLD_CLIP_PREFIX + "embeddings.token_embedding.weight" in header.shapes


def _text_encoder_from_older_names(path: Path, header: CheckpointHeader, folder: Path, dtype: torch.dtype):
    """The SD 1.x text encoder of a file that predates `text_model.` in CLIP's names. diffusers does
    not recognise that layout, so it is loaded here and handed over as a component."""
    from safetensors import safe_open
    from transformers import CLIPTextConfig, CLIPTextModel

    model = CLIPTextModel(
        CLIPTextConfig.from_pretrained(folder, subfolder="text_encoder", local_files_only=True)
    )
    wrapped = hasattr(model, "text_model")  # transformers before 5.6 nests the weights one level down
    with safe_open(str(path), framework="pt") as handle:
        weights = {
            ("text_model." if wrapped else "") + name.removeprefix(_OLD_CLIP_PREFIX): handle.get_tensor(name)
            for name in header.shapes
            if name.startswith(_OLD_CLIP_PREFIX)
        }
    missing, _ = model.load_state_dict(weights, strict=False)  # unused: the old position_ids buffer
    if missing:
        raise UnsupportedModel(
            f"{path.name} lacks {len(missing)} text encoder weights (first: {missing[0]})",
            hint="use a full checkpoint",
        )
    return model.to(dtype).eval()


def _numel(shape: Sequence[int]) -> int:
    count = 1
    for n in shape:
        count *= n
    return count


def load_single_file(
    path: Path,
    *,
    config_folder: Path | None = None,
    variant: str | None = None,
    cache_dir: Path | None = None,
    torch_dtype: torch.dtype = torch.float32,
    img2img: bool = True,
):
    """A diffusers pipeline (img2img unless `img2img=False`) from an original-layout single file, offline."""
    import diffusers
    from diffusers.loaders.single_file_utils import SingleFileComponentError

    from photogen.engines.tokenizer import END, clip_tokenizer

    path = Path(path)
    # 1. read the header: the file exists, is whole, and is a checkpoint of a family we run
    header = read_header(path)
    family = detect_family(header.shapes, header.shapes)
    # 2. choose the config folder and check the weights against it
    folder = (
        Path(config_folder)
        if config_folder is not None
        else config_folder_for(path, variant=variant, cache_dir=cache_dir)
    )
    if not (folder / "model_index.json").is_file():
        raise ModelNotFound(
            f"no diffusers config folder at {folder.name}", hint="it needs a model_index.json"
        )
    check_weights(header, folder, family, name=path.name)
    # 3. the components that do not come from the file
    if family == "sdxl":
        pipeline_class = (
            diffusers.StableDiffusionXLImg2ImgPipeline if img2img else diffusers.StableDiffusionXLPipeline
        )
        extra = {"tokenizer": clip_tokenizer(END), "tokenizer_2": clip_tokenizer("!")}
    else:
        pipeline_class = (
            diffusers.StableDiffusionImg2ImgPipeline if img2img else diffusers.StableDiffusionPipeline
        )
        pad = END if family == "sd1" else "!"
        extra = {"tokenizer": clip_tokenizer(pad), "safety_checker": None, "requires_safety_checker": False}
        if family == "sd1" and _has_older_clip_names(header):
            extra["text_encoder"] = _text_encoder_from_older_names(path, header, folder, torch_dtype)
    # 4. convert and load the weights
    try:
        return pipeline_class.from_single_file(
            str(path),
            config=str(folder),
            local_files_only=True,
            # float32 is what the modules are built in; casting them to it again only logs a warning
            torch_dtype=None if torch_dtype == torch.float32 else torch_dtype,
            feature_extractor=None,
            image_encoder=None,
            **extra,
        )
    except (SingleFileComponentError, RuntimeError, ValueError, KeyError, OSError) as exc:
        raise UnsupportedModel(
            f"{path.name} could not be loaded as a {family} checkpoint ({type(exc).__name__})",
            hint="check that the config folder or variant matches the file",
        ) from exc


def pipeline_family(pipe: Any) -> str:
    """The family of a diffusers pipeline: SDXL has two text encoders; SD 2.x's one is OpenCLIP,
    which uses GELU, where SD 1.x's OpenAI CLIP uses quick GELU."""
    if getattr(pipe, "text_encoder_2", None) is not None:
        return "sdxl"
    return "sd2" if pipe.text_encoder.config.hidden_act == "gelu" else "sd1"


def export_single_file(
    pipe: Any, path: Path, *, family: str | None = None, embed_config: bool = True
) -> Path:
    """Write `pipe` as one original-layout `.safetensors` file. With `embed_config`, the file also
    carries the pipeline's component configs, so it loads offline without a bundled config."""
    from safetensors.torch import save_file

    family = family or pipeline_family(pipe)
    if family not in TEXT_ENCODER_LAYOUTS:
        raise UnsupportedModel(f"cannot export a {family!r} pipeline", hint="families: sd1, sd2, sdxl")
    components = {
        "unet": pipe.unet,
        "vae": pipe.vae,
        **{n: getattr(pipe, n) for n in TEXT_ENCODER_LAYOUTS[family]},
    }
    state = {name: tensor.cpu() for name, tensor in to_ldm_state_dict(family, components).items()}
    metadata = {"format": "pt", FAMILY_METADATA_KEY: family}
    if embed_config:
        embedded: dict[str, Any] = {
            "model_index": {k: v for k, v in dict(pipe.config).items() if k in _PIPELINE_OPTIONS},
            "scheduler": json.loads(pipe.scheduler.to_json_string()),
            "unet": json.loads(pipe.unet.to_json_string()),
            "vae": json.loads(pipe.vae.to_json_string()),
        }
        for name in TEXT_ENCODER_LAYOUTS[family]:
            embedded[name] = json.loads(getattr(pipe, name).config.to_json_string(use_diff=False))
        metadata[CONFIG_METADATA_KEY] = json.dumps(embedded, sort_keys=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=".export-", suffix=".safetensors", dir=path.parent)
    os.close(handle)
    try:
        save_file(state, staging, metadata=metadata)
        os.replace(staging, path)
    finally:
        if os.path.exists(staging):
            os.unlink(staging)
    return path
