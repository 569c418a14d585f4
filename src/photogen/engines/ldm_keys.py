"""Names of diffusers weights in the original (LDM) single-file layout that A1111 and ComfyUI keep.

diffusers converts that layout into its own when it loads a single file; this module goes the
other way, so a pipeline can be written as one file. Everything here works on names and, where
the layouts differ in shape, on the tensors themselves:

- UNet: `down_blocks`/`mid_block`/`up_blocks` become the flat `input_blocks`/`middle_block`/
  `output_blocks` lists (`model.diffusion_model.*`);
- VAE: `first_stage_model.*`, with the mid-block attention projections stored as 1x1 convolutions;
- text encoders: OpenAI CLIP keeps transformers' own names under a prefix; OpenCLIP (SD 2.x, the
  second SDXL encoder) fuses q/k/v into one `in_proj` and stores `text_projection` transposed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
# Where each family keeps its text encoders, and in which layout ("clip" or "open_clip").
TEXT_ENCODER_LAYOUTS: dict[str, dict[str, tuple[str, str]]] = {
    "sd1": {"text_encoder": ("cond_stage_model.transformer.", "clip")},
    "sd2": {"text_encoder": ("cond_stage_model.model.", "open_clip")},
    "sdxl": {
        "text_encoder": ("conditioner.embedders.0.transformer.", "clip"),
        "text_encoder_2": ("conditioner.embedders.1.model.", "open_clip"),
    },
}

_UNET_TOP = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_VAE_TOP = {
    "conv_in": "conv_in",
    "conv_out": "conv_out",
    "conv_norm_out": "norm_out",
}
_VAE_ATTENTION = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}
_OPEN_CLIP_TOP = {
    "embeddings.token_embedding.weight": "token_embedding.weight",
    "embeddings.position_embedding.weight": "positional_embedding",
    "final_layer_norm.weight": "ln_final.weight",
    "final_layer_norm.bias": "ln_final.bias",
    "text_projection.weight": "text_projection",
}
_OPEN_CLIP_LAYER = {
    "self_attn.q_proj": "attn.in_proj",
    "self_attn.k_proj": "attn.in_proj",
    "self_attn.v_proj": "attn.in_proj",
    "self_attn.out_proj": "attn.out_proj",
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
}

_BLOCK = re.compile(
    r"^(down_blocks|up_blocks)\.(\d+)\.(resnets|attentions|downsamplers|upsamplers)\.(\d+)\.(.+)$"
)
_MID = re.compile(r"^mid_block\.(resnets|attentions)\.(\d+)\.(.+)$")
_VAE_BLOCK = re.compile(
    r"^(encoder|decoder)\.(down_blocks|up_blocks)\.(\d+)\.(resnets|downsamplers|upsamplers)\.(\d+)\.(.+)$"
)
_VAE_MID = re.compile(r"^(encoder|decoder)\.mid_block\.(resnets|attentions)\.(\d+)\.(.+)$")
_CLIP_LAYER = re.compile(r"^encoder\.layers\.(\d+)\.(.+)\.(weight|bias)$")


class UnmappedKey(KeyError):
    """A weight name this module has no original-layout name for."""


def _swap_head(rest: str, table: Mapping[str, str]) -> str:
    for new, old in table.items():
        if rest == new or rest.startswith(new + "."):
            return old + rest[len(new) :]
    return rest


def unet_name(key: str, config: Mapping) -> str:
    """The original name of one UNet weight, e.g. `down_blocks.0.resnets.1.conv1.weight` ->
    `input_blocks.2.0.in_layers.2.weight` (without the `model.diffusion_model.` prefix)."""
    per_block = int(config["layers_per_block"]) + 1  # resnets (+ attention) per level, plus the resampler
    top = _swap_head(key, _UNET_TOP)
    if top != key:
        return top
    if match := _BLOCK.match(key):
        kind, level, part, index, rest = match.groups()
        level, index = int(level), int(index)
        if kind == "down_blocks":
            if part == "downsamplers":
                return f"input_blocks.{(level + 1) * per_block}.0.{_swap_head(rest, {'conv': 'op'})}"
            slot = 1 + level * per_block + index
            if part == "resnets":
                return f"input_blocks.{slot}.0.{_swap_head(rest, _UNET_RESNET)}"
            return f"input_blocks.{slot}.1.{rest}"
        slot = level * per_block + index
        if part == "upsamplers":
            has_attention = config["up_block_types"][level].startswith("CrossAttn")
            return f"output_blocks.{level * per_block + per_block - 1}.{2 if has_attention else 1}.{rest}"
        if part == "resnets":
            return f"output_blocks.{slot}.0.{_swap_head(rest, _UNET_RESNET)}"
        return f"output_blocks.{slot}.1.{rest}"
    if match := _MID.match(key):
        part, index, rest = match.groups()
        if part == "resnets":
            return f"middle_block.{2 * int(index)}.{_swap_head(rest, _UNET_RESNET)}"
        return f"middle_block.1.{rest}"
    raise UnmappedKey(key)


def vae_name(key: str, config: Mapping) -> str:
    """The original name of one VAE weight (without the `first_stage_model.` prefix)."""
    levels = len(config["up_block_types"])
    if key.startswith(("quant_conv.", "post_quant_conv.")):
        return key
    if match := _VAE_BLOCK.match(key):
        side, _, level, part, index, rest = match.groups()
        level = int(level)
        if side == "decoder":
            level = levels - 1 - level  # the original decoder counts its levels from the bottom
        group = "down" if side == "encoder" else "up"
        if part in ("downsamplers", "upsamplers"):
            return f"{side}.{group}.{level}.{part.removesuffix('rs')}.{rest}"  # downsamplers -> downsample
        return f"{side}.{group}.{level}.block.{index}.{_swap_head(rest, {'conv_shortcut': 'nin_shortcut'})}"
    if match := _VAE_MID.match(key):
        side, part, index, rest = match.groups()
        if part == "resnets":
            return f"{side}.mid.block_{int(index) + 1}.{rest}"
        return f"{side}.mid.attn_1.{_swap_head(rest, _VAE_ATTENTION)}"
    side, _, rest = key.partition(".")
    head = rest.rpartition(".")[0]
    if side in ("encoder", "decoder") and head in _VAE_TOP:
        return f"{side}.{_swap_head(rest, _VAE_TOP)}"
    raise UnmappedKey(key)


def clip_name(key: str) -> str:
    """OpenAI CLIP keeps transformers' names under `text_model.` (flat or wrapped models alike)."""
    return key if key.startswith("text_model.") else "text_model." + key


def open_clip_name(key: str) -> str:
    """The OpenCLIP name of one transformers CLIP text weight; q, k and v share `in_proj`."""
    key = key.removeprefix("text_model.")
    if key in _OPEN_CLIP_TOP:
        return _OPEN_CLIP_TOP[key]
    if match := _CLIP_LAYER.match(key):
        layer, module, kind = match.groups()
        swapped = _swap_head(module, _OPEN_CLIP_LAYER)
        if swapped == module:
            raise UnmappedKey(key)
        if swapped == "attn.in_proj":
            return f"transformer.resblocks.{layer}.attn.in_proj_{kind}"
        return f"transformer.resblocks.{layer}.{swapped}.{kind}"
    raise UnmappedKey(key)


def ldm_names(family: str, components: Mapping[str, torch.nn.Module]) -> dict[str, dict[str, str]]:
    """For each component, its weight names mapped to full original names."""
    names: dict[str, dict[str, str]] = {}
    unet, vae = components["unet"], components["vae"]
    names["unet"] = {k: UNET_PREFIX + unet_name(k, unet.config) for k in unet.state_dict()}
    names["vae"] = {k: VAE_PREFIX + vae_name(k, vae.config) for k in vae.state_dict()}
    for component, (prefix, layout) in TEXT_ENCODER_LAYOUTS[family].items():
        rename = clip_name if layout == "clip" else open_clip_name
        names[component] = {k: prefix + rename(k) for k in components[component].state_dict()}
    return names


def to_ldm_state_dict(family: str, components: Mapping[str, torch.nn.Module]) -> dict[str, torch.Tensor]:
    """All weights of `components` ("unet", "vae", "text_encoder"[, "text_encoder_2"]) under their
    original names, reshaped where the layouts differ."""
    names = ldm_names(family, components)
    state: dict[str, torch.Tensor] = {}
    for component, mapping in names.items():
        weights = components[component].state_dict()
        fused: dict[str, list[torch.Tensor]] = {}
        for key, name in mapping.items():
            tensor = weights[key].detach()
            if name.endswith(("attn.in_proj_weight", "attn.in_proj_bias")):
                fused.setdefault(name, [None, None, None])[_qkv_index(key)] = tensor
                continue
            if component == "vae" and ".mid.attn_1." in name and name.endswith("weight") and tensor.ndim == 2:
                tensor = tensor.reshape(*tensor.shape, 1, 1)  # linear -> 1x1 conv
            elif name.endswith(".text_projection"):
                tensor = tensor.T  # OpenCLIP multiplies x @ projection
            state[name] = tensor.contiguous()
        for name, parts in fused.items():
            state[name] = torch.cat(parts, dim=0)
    return state


def _qkv_index(key: str) -> int:
    for index, part in enumerate(("q_proj", "k_proj", "v_proj")):
        if f".{part}." in key:
            return index
    raise UnmappedKey(key)
