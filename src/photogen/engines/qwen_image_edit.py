"""Qwen-Image-Edit-Plus instruction edits with one to three images, through diffusers' QwenImageEditPlusPipeline.

The model reads each image twice: its Qwen2.5-VL text encoder sees every image (at about 384x384) before the
instruction ("Picture 1: ... Picture 2: ..."), and the transformer sees every image as clean latent tokens
beside the noise it denoises. Guidance is true classifier-free guidance: a second pass with the negative
prompt for images guided above 1, whose combination is rescaled to the norm of the positive prediction, as
the stock pipeline does. The loop below is the stock pipeline's, batched per image, with two differences:

- the stock pipeline takes one prompt per call; here a batch may mix requests, whose prompt embeddings
  (of different lengths) are padded and masked, so a batched image can differ from the same image run alone
  by float rounding (the transformer then attends with a mask);
- the images are read at the sizes photogen planned (the source at the output size, each reference at about
  the model's native pixel count on its size grid), where the stock pipeline re-derives each image's size
  for the VAE on a 32-pixel grid at 1024x1024 pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image

from photogen.engines.base import InterruptCheck, PreparedRequest, StepCallback
from photogen.engines.diffusers_edit import EditGenerator, EditRows, guided_rows


class QwenImageEditPlusGenerator(EditGenerator):
    def _run(self, rows: EditRows, steps: int, size: tuple[int, int], on_step: StepCallback | None,
             interrupt: InterruptCheck | None) -> list[Image.Image]:
        pipe = self._pipe
        device = pipe._execution_device
        width, height = size
        guided, scales = guided_rows(rows, device)

        # 1. encode prompts: each request's prompt after its images, (n, tokens, d) with a (n, tokens) mask where
        #    requests' lengths differ; the negative prompt of each guided row likewise
        embeds, mask = self._encode(rows.prompts, rows, device)
        if len(guided):
            negative, negative_mask = self._encode(rows.negatives, rows, device)
            negative = negative.index_select(0, guided)
            negative_mask = None if negative_mask is None else negative_mask.index_select(0, guided)

        # 2. prepare images: per request, the source and its references as clean latent tokens (n, N, C)
        image_latents, image_shapes = self._image_tokens(rows, embeds.dtype, device)

        # 3. prepare latents: (n, h x w / 4, C) noise, each row from its own generator
        channels = pipe.transformer.config.in_channels // 4
        latents, _ = pipe.prepare_latents(None, len(rows), channels, height, width, embeds.dtype, device,
                                          rows.generators)
        scale = pipe.vae_scale_factor * 2
        img_shapes = [[(1, height // scale, width // scale), *image_shapes]] * len(rows)

        # 4. set timesteps: the flow-matching sigmas shifted for this many image tokens
        scheduler, timesteps = self._shifted_timesteps(latents.shape[1], steps, device)

        # 5. denoise: the transformer sees the noisy tokens followed by the image tokens
        transformer = pipe.transformer
        every = len(guided) == len(rows)
        for _i, t in self._step_loop(timesteps, on_step, interrupt):
            model_input = torch.cat([latents, image_latents], dim=1)
            timestep = t.expand(latents.shape[0]).to(latents.dtype)
            with transformer.cache_context("cond"):
                noise = transformer(
                    hidden_states=model_input, timestep=timestep / 1000, guidance=None,
                    encoder_hidden_states_mask=mask, encoder_hidden_states=embeds, img_shapes=img_shapes,
                    attention_kwargs={}, return_dict=False,
                )[0][:, : latents.size(1)]
            if len(guided):
                with transformer.cache_context("uncond"):
                    negative_noise = transformer(
                        hidden_states=model_input if every else model_input.index_select(0, guided),
                        timestep=(timestep if every else timestep.index_select(0, guided)) / 1000, guidance=None,
                        encoder_hidden_states_mask=negative_mask, encoder_hidden_states=negative,
                        img_shapes=img_shapes[: len(guided)], attention_kwargs={}, return_dict=False,
                    )[0][:, : latents.size(1)]
                noise = rescaled_guidance(noise, negative_noise, guided, scales)
            latents = scheduler.step(noise, t, latents, return_dict=False)[0]

        # 6. decode: tokens back to latents, the VAE's normalisation undone, then pixels (one frame each)
        return self._decode(latents, height, width)

    def _encode(self, prompts: Sequence[str], rows: EditRows,
                device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Each request's prompt encoded once with its images and repeated for its rows, as the stock pipeline
        does; requests of different lengths are padded with zeros and masked."""
        from diffusers.pipelines.qwenimage.pipeline_qwenimage_edit_plus import CONDITION_IMAGE_SIZE

        pipe = self._pipe
        embeds, masks = [], []
        for item, first, count in rows.spans:
            images = [pipe.image_processor.resize(image, *_condition_size(image, CONDITION_IMAGE_SIZE)[::-1])
                      for image in _images_of(item)]
            e, m = pipe.encode_prompt(prompt=prompts[first], image=images, device=device, num_images_per_prompt=count)
            embeds.append(e)
            masks.append(m)
        longest = max(e.shape[1] for e in embeds)
        if all(m is None for m in masks) and all(e.shape[1] == longest for e in embeds):
            return torch.cat(embeds), None
        padded, padded_masks = [], []
        for e, m in zip(embeds, masks):
            m = torch.ones(e.shape[:2], dtype=torch.long, device=e.device) if m is None else m
            padded.append(torch.nn.functional.pad(e, (0, 0, 0, longest - e.shape[1])))
            padded_masks.append(torch.nn.functional.pad(m, (0, longest - m.shape[1])))
        return torch.cat(padded), torch.cat(padded_masks)

    def _image_tokens(self, rows: EditRows, dtype: torch.dtype,
                      device: torch.device) -> tuple[torch.Tensor, list[tuple[int, int, int]]]:
        """Per request, its images' latents (normalised as the VAE's config says) packed in 2x2 patches, one
        copy per row: (n, N, 4 x z); and each image's (frames, rows, columns) of tokens."""
        pipe = self._pipe
        tokens = []
        for item, _first, count in rows.spans:
            packed = []
            for image in _images_of(item):
                pixels = pipe.image_processor.preprocess(image, image.height, image.width).unsqueeze(2)
                latents = pipe._encode_vae_image(image=pixels.to(device=device, dtype=dtype), generator=None)
                latents = torch.cat([latents] * count, dim=0)
                height, width = latents.shape[3:]
                packed.append(pipe._pack_latents(latents, count, pipe.latent_channels, height, width))
            tokens.append(torch.cat(packed, dim=1))
        # the batch shares its images' sizes (photogen.engines.base.batch_key), so the first request's say it
        scale = pipe.vae_scale_factor * 2
        shapes = [(1, image.height // scale, image.width // scale) for image in _images_of(rows.spans[0][0])]
        return torch.cat(tokens), shapes

    def _decode(self, latents: torch.Tensor, height: int, width: int) -> list[Image.Image]:
        pipe, vae = self._pipe, self._pipe.vae
        latents = pipe._unpack_latents(latents, height, width, pipe.vae_scale_factor).to(vae.dtype)
        mean = torch.tensor(vae.config.latents_mean).view(1, vae.config.z_dim, 1, 1, 1).to(latents.device,
                                                                                             latents.dtype)
        std = 1.0 / torch.tensor(vae.config.latents_std).view(1, vae.config.z_dim, 1, 1, 1).to(latents.device,
                                                                                               latents.dtype)
        image = vae.decode(latents / std + mean, return_dict=False)[0][:, :, 0]
        return pipe.image_processor.postprocess(image, output_type="pil")


def rescaled_guidance(noise: torch.Tensor, negative: torch.Tensor, index: torch.Tensor,
                      scales: torch.Tensor) -> torch.Tensor:
    """Qwen-Image's true CFG for the guided rows: negative + g * (positive - negative), rescaled per token to the
    norm of the positive prediction; the other rows keep their positive prediction."""
    every = len(index) == len(noise)
    positive = noise if every else noise.index_select(0, index)
    combined = negative + (scales * (positive - negative).float()).to(noise.dtype)
    guided = combined * (torch.norm(positive, dim=-1, keepdim=True) / torch.norm(combined, dim=-1, keepdim=True))
    return guided if every else noise.index_copy(0, index, guided)


def _condition_size(image: Image.Image, pixels: int) -> tuple[int, int]:
    """(width, height) at which the VL encoder reads an image: about `pixels` at its ratio, as the pipeline has it."""
    from diffusers.pipelines.qwenimage.pipeline_qwenimage_edit_plus import calculate_dimensions

    return calculate_dimensions(pixels, image.width / image.height)


def _images_of(item: PreparedRequest) -> list[Image.Image]:
    """The images the model reads for a request, as "Picture 1", "Picture 2", ...: its source crop first, then
    its references in order."""
    return [item.image, *item.references]
