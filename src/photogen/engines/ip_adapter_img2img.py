"""Stable Diffusion image-to-image with an IP-Adapter: the SD loop of photogen.engines.diffusers_img2img, with
the reference photos' image embeddings beside the text.

The adapter is loaded into the pipeline with diffusers' `load_ip_adapter` (weights and CLIP image encoder
from local files) before the pipeline is placed and optimised. Each request's references are encoded once
by the pipeline's own `encode_image` (CLIP image embeddings for IP-Adapter, the encoder's penultimate hidden
states for Plus and Full), repeated for its images; the negative rows of guided images get the pipeline's
unconditional embeddings, as the stock pipeline orders them. The adapter's scale is one per batch (batches
group requests by reference strength): the request's `reference_strength`, the model's default where it gave
none, and 0 for requests without references, for which the adapter's attention is skipped and the model
gives the same pixels as without the adapter.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch

from photogen.domain.errors import UnsupportedModel
from photogen.engines.base import Capabilities, ModelInfo, PreparedRequest
from photogen.engines.diffusers_img2img import BatchRows, Conditioning, DiffusersImg2ImgGenerator
from photogen.engines.ip_adapter import DEFAULT_STRENGTH, IPAdapterFiles, image_embed_shape


def load_ip_adapter(pipeline: Any, files: IPAdapterFiles) -> None:
    """Load the adapter into an SD pipeline (its UNet's attention processors, image projection and the CLIP image
    encoder) from local files; refuse an adapter made for another UNet width."""
    width = pipeline.unet.config.cross_attention_dim
    if files.cross_attention_dim != width:
        made_for = {768: "SD 1.x", 1024: "SD 2.x", 2048: "SDXL"}.get(files.cross_attention_dim, "another model")
        raise UnsupportedModel(
            f"the IP-Adapter {files.weights.name} was made for {made_for} (cross-attention width "
            f"{files.cross_attention_dim}), not this model (width {width})",
            hint="use the adapter made for the model's family: ip-adapter_sd15* for SD 1.x, ip-adapter_sdxl* for SDXL",
        )
    folder = files.weights.parent
    pipeline.load_ip_adapter(str(folder), subfolder="", weight_name=files.weights.name,
                             image_encoder_folder=os.path.relpath(files.image_encoder, folder), local_files_only=True)
    pipeline.image_encoder.eval()


class IPAdapterImg2ImgGenerator(DiffusersImg2ImgGenerator):
    """SD image-to-image whose requests may carry reference photos, read by an IP-Adapter."""

    def __init__(self, pipeline: Any, info: ModelInfo, device: str, capabilities: Capabilities) -> None:
        super().__init__(pipeline, info, device, capabilities)
        self._embed_shape = image_embed_shape(pipeline)
        self._hidden_states = len(self._embed_shape) > 1  # Plus and Full read the encoder's hidden states

    def _condition(self, batch: Sequence[PreparedRequest], rows: BatchRows, size: Sequence[int],
                   device: torch.device) -> Conditioning:
        cond = super()._condition(batch, rows, size, device)
        # the adapter's scale for the whole batch; 0 skips its attention
        first = batch[0]
        strength = 0.0 if not first.references else first.request.reference_strength
        self._pipe.set_ip_adapter_scale(DEFAULT_STRENGTH if strength is None else strength)
        # the references' embeddings per row: (n, references, ...), the guided rows' unconditional ones first
        embeds, negatives = self._image_embeds(batch, device)
        if len(cond.guided):
            embeds = torch.cat([negatives.index_select(0, cond.guided), embeds])
        return replace(cond, added={**(cond.added or {}), "image_embeds": [embeds]})

    def _image_embeds(self, batch: Sequence[PreparedRequest], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Each request's references encoded once and repeated for its images, as the stock pipeline does."""
        pipe = self._pipe
        embeds, negatives = [], []
        for item in batch:
            count = item.request.num_images
            if item.references:
                e, n = pipe.encode_image(list(item.references), device, 1, self._hidden_states)
            else:  # a placeholder of the right shape; the adapter's scale is 0 and its attention skipped
                e = n = torch.zeros(1, *self._embed_shape, device=device, dtype=pipe.image_encoder.dtype)
            embeds.append(torch.cat([e[None, :]] * count, dim=0))
            negatives.append(torch.cat([n[None, :]] * count, dim=0))
        return torch.cat(embeds), torch.cat(negatives)

