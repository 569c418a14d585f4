"""FLUX.1 Kontext instruction edits of one image, through diffusers' FluxKontextPipeline.

The model reads the prompt as an instruction (CLIP's pooled embedding and T5's tokens) and the source photo
as clean latent tokens beside the noise it denoises (time coordinate 1). Guidance is distilled into the
model: each image's scale is an input of the transformer, so one pass per step serves a batch of mixed
scales. The loop below is the stock pipeline's, batched per image; the source is the crop photogen planned
(its size on the model's grid), where the stock pipeline would snap it to Kontext's preferred resolutions.
"""

from __future__ import annotations

import torch
from PIL import Image

from photogen.engines.base import InterruptCheck, StepCallback
from photogen.engines.diffusers_edit import EditGenerator, EditRows


class FluxKontextGenerator(EditGenerator):
    def _run(self, rows: EditRows, steps: int, size: tuple[int, int], on_step: StepCallback | None,
             interrupt: InterruptCheck | None) -> list[Image.Image]:
        pipe = self._pipe
        device = pipe._execution_device
        width, height = size

        # 1. encode prompts: T5 tokens (n, 512, d) and CLIP's pooled embedding (n, p) per row
        embeds, pooled, text_ids = self._encode(rows, device)

        # 2. prepare the source: its clean latent tokens (n, h x w / 4, C), each request's once
        image_latents, image_ids = self._source_tokens(rows, height, width, embeds.dtype, device)

        # 3. prepare latents: (n, h x w / 4, C) noise, each row from its own generator
        channels = pipe.transformer.config.in_channels // 4
        latents, _, latent_ids, _ = pipe.prepare_latents(
            None, len(rows), channels, height, width, embeds.dtype, device, rows.generators
        )
        ids = torch.cat([latent_ids, image_ids], dim=0)  # dim 0 is the sequence

        # 4. set timesteps: the flow-matching sigmas shifted for this many image tokens
        scheduler, timesteps = self._shifted_timesteps(latents.shape[1], steps, device)

        # 5. denoise: one pass per step; each row's guidance scale is an input
        transformer = pipe.transformer
        guidance = None
        if transformer.config.guidance_embeds:
            guidance = torch.tensor(rows.guidance, dtype=torch.float32, device=device)
        for _i, t in self._step_loop(timesteps, on_step, interrupt):
            model_input = torch.cat([latents, image_latents], dim=1)
            timestep = t.expand(latents.shape[0]).to(latents.dtype)
            noise = transformer(
                hidden_states=model_input, timestep=timestep / 1000, guidance=guidance,
                pooled_projections=pooled, encoder_hidden_states=embeds, txt_ids=text_ids, img_ids=ids,
                joint_attention_kwargs={}, return_dict=False,
            )[0]
            latents = scheduler.step(noise[:, : latents.size(1)], t, latents, return_dict=False)[0]

        # 6. decode
        latents = pipe._unpack_latents(latents, height, width, pipe.vae_scale_factor)
        latents = (latents / pipe.vae.config.scaling_factor) + pipe.vae.config.shift_factor
        image = pipe.vae.decode(latents, return_dict=False)[0]
        return pipe.image_processor.postprocess(image, output_type="pil")

    def _encode(self, rows: EditRows, device: torch.device):
        """Each request's prompt encoded once and repeated for its images, as the stock pipeline does."""
        embeds, pooled, text_ids = [], [], None
        for _item, first, count in rows.spans:
            e, p, text_ids = self._pipe.encode_prompt(prompt=rows.prompts[first], prompt_2=None, device=device,
                                                       num_images_per_prompt=count)
            embeds.append(e)
            pooled.append(p)
        return torch.cat(embeds), torch.cat(pooled), text_ids

    def _source_tokens(self, rows: EditRows, height: int, width: int, dtype: torch.dtype,
                       device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        pipe = self._pipe
        tokens = []
        for item, _first, count in rows.spans:
            image = pipe.image_processor.preprocess(pipe.image_processor.resize(item.image, height, width),
                                                    height, width)
            latents = pipe._encode_vae_image(image=image.to(device=device, dtype=dtype), generator=None)
            packed = pipe._pack_latents(latents, 1, latents.shape[1], latents.shape[2], latents.shape[3])
            tokens.append(packed.repeat(count, 1, 1))
        latent_height, latent_width = latents.shape[2:]
        ids = pipe._prepare_latent_image_ids(1, latent_height // 2, latent_width // 2, device, dtype)
        ids[..., 0] = 1  # the source's tokens sit at time coordinate 1, the noise's at 0
        return torch.cat(tokens), ids
