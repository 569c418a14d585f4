"""Tiny random IP-Adapters for the tiny SD models, saved as h94/IP-Adapter lays its files out.

`build_tiny_ip_adapter(unet, folder, plus=...)` writes, with fixed seeds:
    folder/README.md                              a model card with the licence (apache-2.0, as h94's)
    folder/models/image_encoder/                  a tiny CLIPVisionModelWithProjection (config.json, weights)
    folder/models/ip-adapter_tiny.safetensors     IP-Adapter: image projection `proj` + `norm`, 4 tokens
    folder/models/ip-adapter-plus-face_tiny.safetensors   IP-Adapter Plus (Face): the resampler, 8 tokens
each weights file in the original format (`image_proj.*`, `ip_adapter.<n>.to_k_ip/to_v_ip.weight` for the n-th
cross-attention, n = 1, 3, 5, ...), which diffusers' load_ip_adapter converts on loading.
"""

from __future__ import annotations

from pathlib import Path

import torch

ENCODER = {"hidden_size": 32, "intermediate_size": 37, "projection_dim": 32, "num_hidden_layers": 2,
           "num_attention_heads": 4, "image_size": 32, "patch_size": 8}
PLUS_WIDTH, PLUS_QUERIES, PLUS_DEPTH = 32, 8, 4  # the resampler's width, output tokens and blocks (diffusers: 4)
CARD = "---\nlicense: apache-2.0\n---\n# Tiny IP-Adapter (random weights, for tests)\n"


def build_tiny_ip_adapter(unet, folder: Path, *, plus: bool = False, seed: int = 0, scale: float = 1.0) -> Path:
    """Write a tiny adapter for `unet` under `folder` (encoder shared by both kinds); return the weights file."""
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    encoder_folder = folder / "models" / "image_encoder"
    if not (encoder_folder / "config.json").is_file():
        torch.manual_seed(seed)
        CLIPVisionModelWithProjection(CLIPVisionConfig(**ENCODER)).eval().save_pretrained(encoder_folder)
    (folder / "README.md").write_text(CARD)
    generator = torch.Generator().manual_seed(seed + (1 if plus else 0))

    def weight(*shape: int) -> torch.Tensor:  # fan-in scaled, times `scale`
        return torch.randn(*shape, generator=generator) * (scale / shape[-1] ** 0.5)

    cross = unet.config.cross_attention_dim
    state = _resampler(weight, cross) if plus else _projection(weight, cross)
    for key, hidden in _cross_attentions(unet):
        state[f"ip_adapter.{key}.to_k_ip.weight"] = weight(hidden, cross)
        state[f"ip_adapter.{key}.to_v_ip.weight"] = weight(hidden, cross)
    path = folder / "models" / ("ip-adapter-plus-face_tiny.safetensors" if plus else "ip-adapter_tiny.safetensors")
    save_file({name: tensor.contiguous() for name, tensor in state.items()}, path)
    return path


def _projection(weight, cross: int) -> dict[str, torch.Tensor]:
    """IP-Adapter's image projection: CLIP's image embedding to 4 tokens of the UNet's cross-attention width."""
    return {
        "image_proj.proj.weight": weight(4 * cross, ENCODER["projection_dim"]),
        "image_proj.proj.bias": torch.zeros(4 * cross),
        "image_proj.norm.weight": torch.ones(cross),
        "image_proj.norm.bias": torch.zeros(cross),
    }


def _resampler(weight, cross: int) -> dict[str, torch.Tensor]:
    """IP-Adapter Plus's resampler (perceiver: learned queries attend to the encoder's hidden states), in the
    original key layout; attention heads are 64 wide, as diffusers' conversion assumes."""
    width, inner = PLUS_WIDTH, 64
    state = {
        "image_proj.latents": weight(1, PLUS_QUERIES, width),
        "image_proj.proj_in.weight": weight(width, ENCODER["hidden_size"]),
        "image_proj.proj_in.bias": torch.zeros(width),
        "image_proj.proj_out.weight": weight(cross, width),
        "image_proj.proj_out.bias": torch.zeros(cross),
        "image_proj.norm_out.weight": torch.ones(cross),
        "image_proj.norm_out.bias": torch.zeros(cross),
    }
    for i in range(PLUS_DEPTH):
        layer = f"image_proj.layers.{i}"
        for norm in (f"{layer}.0.norm1", f"{layer}.0.norm2", f"{layer}.1.0"):
            state[f"{norm}.weight"], state[f"{norm}.bias"] = torch.ones(width), torch.zeros(width)
        state[f"{layer}.0.to_q.weight"] = weight(inner, width)
        state[f"{layer}.0.to_kv.weight"] = weight(2 * inner, width)
        state[f"{layer}.0.to_out.weight"] = weight(width, inner)
        state[f"{layer}.1.1.weight"] = weight(4 * width, width)
        state[f"{layer}.1.3.weight"] = weight(width, 4 * width)
    return state


def _cross_attentions(unet) -> list[tuple[int, int]]:
    """(key, width) of each cross-attention in the order diffusers numbers them (1, 3, 5, ...), the width from
    the block's channels as diffusers' conversion reads it."""
    channels = list(unet.config.block_out_channels)
    found, key = [], 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        if name.startswith("mid_block"):
            width = channels[-1]
        elif name.startswith("up_blocks"):
            width = channels[::-1][int(name[len("up_blocks.")])]
        else:
            width = channels[int(name[len("down_blocks.")])]
        found.append((key, width))
        key += 2
    return found
