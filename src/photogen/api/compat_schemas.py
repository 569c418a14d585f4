"""The wire types of the compatibility paths, each in the shape of the API it stands in for, every field
described: the how-to's /v1/image-to-image, OpenAI's POST /v1/images/edits, and AUTOMATIC1111's sdapi subset.

Their requests take fields they do not know (`extra="allow"`), as the original APIs do: the routes ignore
them and record their names on the job (`via.ignored_fields`). photogen's own /v1 types are in schemas.py.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from photogen.api.schemas import GenerationIn, JobOut
from photogen.domain.params import MAX_SEED

# -- the how-to's POST /v1/image-to-image ---------------------------------------------------------


class ImageToImageIn(GenerationIn):
    """The how-to's payload ({"prompt", "image" (base64), "image_strength", "seed", "aspect_ratio"}) and every
    other field of /v1/generations; fields photogen does not know are ignored and recorded on the job."""

    model_config = ConfigDict(extra="allow", frozen=True)


class ImageResult(BaseModel):
    base64: str = Field(description="The PNG, base64-encoded, with its parameters embedded.")
    seed: int = Field(description="The seed that made it.")
    finish_reason: Literal["SUCCESS"] = Field(description="Why the image is done: SUCCESS.")
    asset_id: str = Field(description="The asset's id in photogen.")
    url: str = Field(description="Where to download it (with your API key).")


class ImageToImageOut(BaseModel):
    images: list[ImageResult] = Field(description="The images, in seed order; empty while the job still runs (202).")
    job: JobOut = Field(description="The job that made them: state, request, crop, assets.")


# -- OpenAI's POST /v1/images/edits ---------------------------------------------------------------

OPENAI_SIZES: dict[str, tuple[int, int] | None] = {
    "auto": None, "1024x1024": (1024, 1024), "1536x1024": (1536, 1024), "1024x1536": (1024, 1536),
}


class OpenAIImageEdit(BaseModel):
    """The form fields of an edit, besides its image files (`image`, or several as `image[]`)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    prompt: str = Field(description="What to make of the image(s).")
    model: str | None = Field(default=None, description="A model of this server's catalogue (GET /v1/models); "
                              "OpenAI's own names (gpt-image-*, dall-e-*, chatgpt-image-*) mean the default model.")
    n: int = Field(default=1, ge=1, le=10, description="How many images to make, with seeds seed, seed+1, ...")
    size: Literal["auto", "1024x1024", "1536x1024", "1024x1536"] = Field(
        default="auto", description="The output's aspect ratio and size; auto keeps the photo's ratio at the model's "
        "own size.")
    response_format: Literal["b64_json", "url"] = Field(default="b64_json", description="b64_json: the images in "
                                                        "the answer; url: where to download each (with your key).")
    output_format: Literal["png", "jpeg", "webp"] = Field(default="png", description="The format of b64_json "
                                                          "images; url always gives the stored PNG.")
    user: str | None = Field(default=None, max_length=256, description="Your label for your end user; kept on the job.")


class OpenAIImage(BaseModel):
    b64_json: str | None = Field(default=None, description="The image, base64-encoded (response_format b64_json).")
    url: str | None = Field(default=None, description="Where to download the PNG (response_format url).")
    revised_prompt: str | None = Field(default=None, description="The prompt the image was made with.")


class OpenAIImagesResponse(BaseModel):
    created: int = Field(description="When the images were made (Unix seconds).")
    data: list[OpenAIImage] = Field(description="The images, in seed order.")
    output_format: Literal["png", "jpeg", "webp"] = Field(description="The format of the images.")
    size: str = Field(description="The images' size as WIDTHxHEIGHT.")


class OpenAIErrorBody(BaseModel):
    message: str = Field(description="What went wrong and how to fix it.")
    type: str = Field(description="invalid_request_error, or server_error.")
    param: str | None = Field(description="The field at fault, where there is one.")
    code: str | None = Field(description="photogen's error code.")


class OpenAIErrorResponse(BaseModel):
    error: OpenAIErrorBody = Field(description="The error, in OpenAI's shape.")


# -- AUTOMATIC1111's sdapi subset -----------------------------------------------------------------


class Img2ImgIn(BaseModel):
    """The fields of AUTOMATIC1111's img2img that photogen maps; the others are ignored and recorded."""

    model_config = ConfigDict(extra="allow", frozen=True)
    init_images: list[str] = Field(min_length=1, max_length=1, description="The source photo, base64 (a data: URL "
                                   "prefix is accepted); photogen takes one.")
    prompt: str = Field(default="", description="What the output should show.")
    negative_prompt: str = Field(default="", description="What the output should avoid.")
    denoising_strength: float | None = Field(default=None, ge=0, le=1, description="1 - image_strength: 0 keeps the "
                                             "source, 1 ignores it. Left out: 0.75, or none on models without one.")
    seed: int = Field(default=-1, ge=-1, le=MAX_SEED, description="Seed of the first image; -1 picks one.")
    steps: int | None = Field(default=None, ge=1, le=150, description="Scheduler steps; left out: the model's own.")
    cfg_scale: float | None = Field(default=None, ge=0, le=30, description="Guidance scale; left out: the model's own.")
    width: int | None = Field(default=None, ge=64, le=2048, description="Output width; left out: the model's size "
                              "at the photo's ratio.")
    height: int | None = Field(default=None, ge=64, le=2048, description="Output height.")
    batch_size: int = Field(default=1, ge=1, le=16, description="Images per batch.")
    n_iter: int = Field(default=1, ge=1, le=16, description="Batches; batch_size x n_iter images in all (at most 16).")
    sampler_name: str | None = Field(default=None, description="Sampler, by name or alias (GET /sdapi/v1/samplers).")
    sampler_index: str | None = Field(default=None, description="The older name of sampler_name.")
    override_settings: dict[str, Any] = Field(default_factory=dict, description="Only sd_model_checkpoint is read: "
                                              "a model of GET /sdapi/v1/sd-models.")
    mask: str | None = Field(default=None, description="Inpainting masks are not taken: a mask is refused.")

    @field_validator("init_images")
    @classmethod
    def _check_images(cls, value: list[str]) -> list[str]:
        if not all(value):
            raise ValueError("an init image is empty")
        return value


class Img2ImgOut(BaseModel):
    images: list[str] = Field(description="The PNGs, base64-encoded, parameters embedded, in seed order.")
    parameters: dict[str, Any] = Field(description="The request as received (init_images left out).")
    info: str = Field(description="JSON text: seed and all_seeds, sizes, sampler, the model, the infotexts, and "
                      "photogen's job_id and asset_ids.")


class SamplerItem(BaseModel):
    name: str = Field(description="The sampler's name, as AUTOMATIC1111 and PNG parameters write it.")
    aliases: list[str] = Field(description="Other names it answers to (photogen's scheduler name among them).")
    options: dict[str, Any] = Field(description="Sampler options (none).")


class SdModelItem(BaseModel):
    title: str = Field(description="The model's catalogue id: what override_settings.sd_model_checkpoint takes.")
    model_name: str = Field(description="The same id.")
    hash: str | None = Field(description="Not computed (null).")
    sha256: str | None = Field(description="Not computed (null).")
    filename: str = Field(description="The catalogue id again: the server's paths are never shown.")
    config: str | None = Field(description="null.")


class ProgressOut(BaseModel):
    progress: float = Field(description="0..1 over your active jobs that came through /sdapi.")
    eta_relative: float = Field(description="Seconds left, estimated from the time spent so far.")
    state: dict[str, Any] = Field(description="job_count, job_no, sampling_step, sampling_steps, interrupted, ...")
    current_image: str | None = Field(default=None, description="Not sent (null).")
    textinfo: str | None = Field(default=None, description="The running job's id, when there is one.")


class SdapiErrorResponse(BaseModel):
    error: str = Field(description="photogen's error code.")
    detail: str = Field(description="What went wrong and how to fix it.")
    body: str = Field(description="Empty.")
    errors: str = Field(description="What went wrong.")
