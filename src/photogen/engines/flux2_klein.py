"""FLUX.2 [klein] instruction edits with several reference images, through diffusers' Flux2KleinPipeline.

The model reads the prompt as an instruction and the source photo plus each reference image as clean
latent tokens beside the noise it denoises (each image at its own time coordinate, 10, 20, ...). The
step-distilled checkpoints (`is_distilled`) run without guidance; the base checkpoints run true
classifier-free guidance, a second pass with the negative prompt (empty by default, as the stock pipeline
has it). The loop below is the stock pipeline's, batched per image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from photogen.engines.base import InterruptCheck, PreparedRequest, StepCallback
from photogen.engines.diffusers_edit import EditGenerator, EditRows, combine_guidance, guided_rows
from photogen.engines.schedulers import build_scheduler


class Flux2KleinGenerator(EditGenerator):
    def _run(self, rows: EditRows, steps: int, size: tuple[int, int], on_step: StepCallback | None,
             interrupt: InterruptCheck | None) -> list[Image.Image]:
        from diffusers.pipelines.flux2.pipeline_flux2_klein import compute_empirical_mu, retrieve_timesteps

        pipe = self._pipe
        device = pipe._execution_device
        width, height = size
        # step-distilled checkpoints run no guidance; base checkpoints a negative pass for rows guided above 1
        guided, scales = guided_rows(rows, device)
        if pipe.config.is_distilled:
            guided = guided[:0]

        # 1. encode prompts: (n, tokens, 3 x text width) per row, and the negative prompt of each guided row
        embeds, text_ids = self._encode(rows.prompts, rows, device)
        if len(guided):
            negative, negative_ids = self._encode(rows.negatives, rows, device)
            negative, negative_ids = negative.index_select(0, guided), negative_ids.index_select(0, guided)

        # 2. prepare images: per request, the source and its references as clean latent tokens (n, N, C)
        image_latents, image_ids = self._image_tokens(rows, device)

        # 3. prepare latents: (n, h x w / 4, C) noise, each row from its own generator
        latents, latent_ids = pipe.prepare_latents(
            batch_size=len(rows),
            num_latents_channels=pipe.transformer.config.in_channels // 4,
            height=height,
            width=width,
            dtype=embeds.dtype,
            device=device,
            generator=rows.generators,
        )

        # 4. set timesteps: the flow-matching sigmas shifted for this many image tokens
        scheduler = build_scheduler("default", self._base_scheduler)
        sigmas = np.linspace(1.0, 1 / steps, steps)
        if getattr(scheduler.config, "use_flow_sigmas", False):
            sigmas = None
        mu = compute_empirical_mu(image_seq_len=latents.shape[1], num_steps=steps)
        timesteps, _ = retrieve_timesteps(scheduler, steps, device, sigmas=sigmas, mu=mu)
        scheduler.set_begin_index(0)

        # 5. denoise: the transformer sees the noisy tokens followed by the image tokens
        transformer = pipe.transformer
        ids = torch.cat([latent_ids, image_ids], dim=1)
        for _i, t in self._step_loop(timesteps, on_step, interrupt):
            timestep = t.expand(latents.shape[0]).to(latents.dtype)
            model_input = torch.cat([latents, image_latents], dim=1).to(transformer.dtype)
            with transformer.cache_context("cond"):
                noise = transformer(
                    hidden_states=model_input, timestep=timestep / 1000, guidance=None,
                    encoder_hidden_states=embeds, txt_ids=text_ids, img_ids=ids,
                    joint_attention_kwargs=None, return_dict=False,
                )[0]
            noise = noise[:, : latents.size(1) :]
            if len(guided):
                every = len(guided) == len(latents)
                with transformer.cache_context("uncond"):
                    negative_noise = transformer(
                        hidden_states=model_input if every else model_input.index_select(0, guided),
                        timestep=(timestep if every else timestep.index_select(0, guided)) / 1000,
                        guidance=None, encoder_hidden_states=negative, txt_ids=negative_ids,
                        img_ids=ids if every else ids.index_select(0, guided),
                        joint_attention_kwargs=None, return_dict=False,
                    )[0]
                noise = combine_guidance(noise, negative_noise[:, : latents.size(1) :], guided, scales)
            latents = scheduler.step(noise, t, latents, return_dict=False)[0]

        # 6. decode: tokens back to latents, the VAE's batch-norm undone, then pixels
        return self._decode(latents, latent_ids, height, width)

    def _encode(self, prompts: Sequence[str], rows: EditRows, device: torch.device):
        """Each request's prompt encoded once and repeated for its images, as the stock pipeline does."""
        embeds, ids = [], []
        for _item, first, count in rows.spans:
            e, i = self._pipe.encode_prompt(prompt=prompts[first], device=device, num_images_per_prompt=count)
            embeds.append(e)
            ids.append(i)
        return torch.cat(embeds), torch.cat(ids)

    def _image_tokens(self, rows: EditRows, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        pipe = self._pipe
        latents, ids = [], []
        for item, _first, count in rows.spans:
            images = [pipe.image_processor.preprocess(image, height=image.height, width=image.width,
                                                      resize_mode="crop")
                      for image in _images_of(item)]
            tokens, token_ids = pipe.prepare_image_latents(
                images=images, batch_size=count, generator=None, device=device, dtype=pipe.vae.dtype
            )
            latents.append(tokens)
            ids.append(token_ids)
        return torch.cat(latents), torch.cat(ids)

    def _decode(self, latents: torch.Tensor, latent_ids: torch.Tensor, height: int, width: int) -> list[Image.Image]:
        pipe, vae = self._pipe, self._pipe.vae
        latent_height = 2 * (int(height) // (pipe.vae_scale_factor * 2))
        latent_width = 2 * (int(width) // (pipe.vae_scale_factor * 2))
        latents = pipe._unpack_latents_with_ids(latents, latent_ids, latent_height // 2, latent_width // 2)
        mean = vae.bn.running_mean.view(1, -1, 1, 1).to(latents.device, latents.dtype)
        std = torch.sqrt(vae.bn.running_var.view(1, -1, 1, 1) + vae.config.batch_norm_eps).to(
            latents.device, latents.dtype
        )
        latents = pipe._unpatchify_latents(latents * std + mean)
        image = vae.decode(latents.to(vae.dtype), return_dict=False)[0]
        return pipe.image_processor.postprocess(image, output_type="pil")


def _images_of(item: PreparedRequest) -> list[Image.Image]:
    """The images the model reads for a request: its source crop first, then its references in order."""
    return [item.image, *item.references]
