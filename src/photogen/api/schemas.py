"""Every type on the wire, in one module, each field described (they become the OpenAPI spec)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from photogen.domain.params import GenerationRequest
from photogen.domain.recipes import RecipeFields


def _as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive UTC times; the wire always says so (RFC 3339 with an offset)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable error code, e.g. invalid_request, not_found.")
    message: str = Field(description="What went wrong, in plain words.")
    hint: str = Field(default="", description="How to fix it.")


class ErrorResponse(BaseModel):
    error: ErrorBody = Field(description="The error.")


class UploadJson(BaseModel):
    """A JSON upload: the image as base64, or a URL photogen fetches."""

    model_config = ConfigDict(extra="forbid")
    image: str | None = Field(default=None, description="The image file, base64-encoded (a data: URL prefix is accepted).")
    url: str | None = Field(default=None, description="An http(s) URL of the image; private and loopback addresses are refused.")
    filename: str = Field(default="", max_length=300, description="Original file name, kept for your reference.")


class UploadOut(BaseModel):
    id: str = Field(description="Upload id.")
    sha256: str = Field(description="SHA-256 of the original bytes, which are kept unchanged.")
    filename: str = Field(description="File name given at upload.")
    format: str = Field(description="Image format detected from the bytes (JPEG, PNG, WEBP, ...).")
    width: int = Field(description="Width in pixels, upright (EXIF orientation applied).")
    height: int = Field(description="Height in pixels, upright.")
    size_bytes: int = Field(description="Size of the original file in bytes.")
    preflight: dict[str, Any] | None = Field(default=None, description="The preflight report: named checks with level, value, threshold and fix.")
    created_at: UtcDatetime = Field(description="When it was uploaded (UTC).")


class GenerationIn(GenerationRequest):
    """The common image-to-image payload, plus photogen's other controls. Give exactly one of image, image_url, upload_id."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    prompt: str = Field(default="", max_length=2000, description="What the output should show; with a recipe, the words that fill its template.")
    recipe: str | None = Field(default=None, max_length=120, description="Start from a recipe: name or name@version. Fields you set yourself win over the recipe's.")
    image: str | None = Field(default=None, description="Source image as base64 (uploaded on the fly).")
    image_url: str | None = Field(default=None, description="Source image URL (fetched under the upload address rules).")
    upload_id: str | None = Field(default=None, description="Id of an existing upload.")
    model: str | None = Field(default=None, min_length=1, description="Model name; omitted uses the server's default model.")
    callback_url: str | None = Field(default=None, json_schema_extra={"minLength": 1},
                                     description="URL photogen POSTs a signed event to when the job ends.")

    @field_validator("callback_url")
    @classmethod
    def _check_callback(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must be an http(s) URL; leave callback_url out for no callback")
        return value

    def given_fields(self) -> dict[str, Any]:
        """The generation fields the caller set, without the source, callback, recipe or sweep."""
        skip = {"image", "image_url", "upload_id", "callback_url", "recipe", "sweep"}
        return {name: getattr(self, name) for name in self.model_fields_set - skip}

    def generation_request(self, default_model: str, recipe_fields: dict[str, Any] | None = None) -> GenerationRequest:
        if recipe_fields is None:
            fields = self.model_dump(exclude={"image", "image_url", "upload_id", "callback_url", "sweep"})
        else:
            fields = recipe_fields
        return GenerationRequest.parse({**fields, "model": self.model or default_model})


class Progress(BaseModel):
    step: int = Field(description="Denoising steps done (all images of the job advance together).")
    total: int = Field(description="Denoising steps in all.")
    images: list[dict[str, int]] = Field(description="Per image: index, step, total.")


class JobError(BaseModel):
    code: str = Field(description="Error code.")
    message: str = Field(description="What went wrong.")


class AssetOut(BaseModel):
    id: str = Field(description="Asset id.")
    kind: Literal["crop", "output", "grid", "upscale"] = Field(
        description="crop: the cropped source the model saw; output: a generated image; grid: a sweep's labelled "
        "grid; upscale: an enlarged asset.")
    job_id: str | None = Field(description="The job that made it.")
    upload_id: str = Field(description="The upload it derives from.")
    index: int = Field(description="Image index within the job.")
    seed: int | None = Field(description="Seed of this image.")
    width: int = Field(description="Width in pixels.")
    height: int = Field(description="Height in pixels.")
    sha256: str = Field(description="SHA-256 of the PNG file.")
    url: str = Field(description="Where to download it.")
    scores: dict[str, Any] | None = Field(default=None, description="Review scores: identity (face similarity to the source, None without faces), identity_drift, structure (SSIM), fix.")
    parent_asset_id: str | None = Field(default=None, description="For an upscale: the asset it enlarges.")
    created_at: UtcDatetime = Field(description="When it was made (UTC).")


class AssetDetail(AssetOut):
    record: dict[str, Any] = Field(description="The full embedded record: request, strengths, model, source hash, software.")


class JobOut(BaseModel):
    id: str = Field(description="Job id.")
    state: Literal["queued", "running", "succeeded", "failed", "canceled"] = Field(description="Where the job is.")
    kind: Literal["generate", "sweep", "upscale"] = Field(description="What the job does.")
    recipe: str | None = Field(description="The recipe it came from, as name@version.")
    parent_id: str | None = Field(description="The job this one derives from (vary, replay, upscale).")
    relation: str | None = Field(description="How it derives from its parent: vary, replay or upscale.")
    comparison: dict[str, Any] | None = Field(description="For a replay: per output identical, close (with the largest difference) or different.")
    upload_id: str = Field(description="The source upload.")
    request: dict[str, Any] = Field(description="The generation request, with its seed resolved.")
    progress: Progress = Field(description="Denoising progress.")
    attempts: int = Field(description="How many times a worker started it.")
    cancel_requested: bool = Field(description="Whether a cancel was asked for.")
    callback_url: str | None = Field(description="Webhook target, if any.")
    crop: dict[str, Any] | None = Field(description="Crop box in source pixels and output size, once run.")
    error: JobError | None = Field(description="Why it failed.")
    assets: list[AssetOut] = Field(description="Generated images (and the crop), once succeeded.")
    created_at: UtcDatetime = Field(description="When it was submitted (UTC).")
    started_at: UtcDatetime | None = Field(description="When a worker last started it.")
    finished_at: UtcDatetime | None = Field(description="When it ended.")


class Lineage(BaseModel):
    upload: UploadOut = Field(description="The original upload.")
    crop: AssetOut | None = Field(description="The cropped source the model saw.")
    job: JobOut | None = Field(description="The generation job.")
    outputs: list[AssetOut] = Field(description="All outputs of the generation job.")
    ancestors: list[AssetOut] = Field(description="From the asset up to its generated output: the upscales it came through, nearest first.")
    upscales: list[AssetOut] = Field(description="Upscales made from the generation's outputs, at any depth.")
    graph: dict[str, Any] = Field(description="The same as nodes and edges: upload -> crop -> job -> outputs -> upscales.")


class DeletedOut(BaseModel):
    deleted: dict[str, int] = Field(description="How many jobs, assets and blobs went with it.")


class WorkerOut(BaseModel):
    id: str = Field(description="The worker's id (host:pid:random); jobs it runs name it.")
    kind: str = Field(description="embedded (the thread inside `photogen serve`) or celery.")
    hostname: str = Field(description="The host the worker runs on.")
    gpu: str | None = Field(description="The GPU the worker uses, where it says.")
    last_heartbeat_at: datetime = Field(description="When the worker last renewed its leases (UTC).")
    alive: bool = Field(description="Whether its last heartbeat is within three heartbeat intervals.")


class HealthOut(BaseModel):
    status: Literal["ok"] = Field(description="Always ok when the server answers.")
    version: str = Field(description="photogen version.")
    auth: bool = Field(description="Whether API keys are required.")
    auth_mode: Literal["auto", "required", "off"] = Field(description="The configured PHOTOGEN_AUTH.")
    auth_reason: str = Field(description="Why keys are or are not required, and since when.")
    models_loaded: list[str] = Field(description="Models in memory.")
    workers: list[WorkerOut] = Field(default_factory=list, description="Workers seen on this database, each with "
                                     "its last heartbeat; dead ones stay listed for a day.")


class ModelCapabilities(BaseModel):
    image_strength: bool = Field(description="Whether requests may set image_strength (image-to-image from the source); "
                                 "instruction-edit models have none and read the source as a reference.")
    negative_prompt: bool = Field(description="Whether requests may set negative_prompt (classifier-free or true CFG).")
    schedulers: list[str] = Field(description="Values the request's scheduler may take.")
    native_size: list[int] | None = Field(description="Width and height the model was trained at, where its configs say.")
    size_multiple: int | None = Field(default=None, description="Output width and height are multiples of this.")
    max_references: int = Field(default=0, description="Most reference images a request may add beside its source.")
    reference_strength: bool = Field(default=False, description="Whether requests may set reference_strength (IP-Adapter).")
    guidance: Literal["cfg", "embedded", "none"] | None = Field(
        default=None, description="How guidance works: cfg (a guided pair per image), embedded (distilled guidance, "
        "an input of the model), none (step-distilled: guidance is ignored).")
    prompt_kind: Literal["description", "instruction"] | None = Field(
        default=None, description="description: the prompt describes the output; instruction: it says what to change "
        "(\"make the coat red\").")
    default_guidance: float | None = Field(default=None, description="Guidance used when a request sets none (None: 7).")
    default_steps: int | None = Field(default=None, description="Steps used when a request sets none (None: 30).")


class CommercialUseOut(BaseModel):
    licence: str = Field(description="The licence's name, e.g. Apache License 2.0 (or 'not stated').")
    use: Literal["allowed", "conditions", "non_commercial", "unknown"] = Field(
        description="Whether outputs may go into paid or client work: allowed; allowed on conditions (see "
        "conditions); non-commercial only; or unknown (read the model card first).")
    conditions: str = Field(description="The conditions, or what else is worth knowing, in plain words.")
    summary: str = Field(description="One plain sentence, as shown beside downloads.")


class ModelOut(BaseModel):
    id: str = Field(description="What to pass as a request's model.")
    default: bool = Field(description="Used when a request names no model.")
    source: Literal["tiny", "hub", "folder", "single_file"] = Field(description="Where the operator's model comes from (never its path).")
    available: bool = Field(description="Whether its files are on the server (a hub model: already downloaded); unavailable models fail to load.")
    family: str | None = Field(description="Model family: sd1, sd2, sdxl, flux2-klein or flux-kontext; None when its "
                               "configs cannot be read.")
    licence: str | None = Field(description="Licence from the model card, where it has one.")
    random_weights: bool = Field(description="Random weights (the tiny test model): outputs mean nothing.")
    capabilities: ModelCapabilities = Field(description="What requests for this model may use.")
    commercial_use: CommercialUseOut = Field(description="The licence's commercial terms in plain words (a summary; "
                                             "the licence text decides).")


class PresetOut(BaseModel):
    name: str = Field(description="Preset name to pass as crop_preset.")
    description: str = Field(description="What the preset is for.")
    ratio: list[float] = Field(description="Width and height of the ratio.")
    size: list[int] | None = Field(description="Delivered size in pixels, where the preset has one.")


class CropSuggestion(BaseModel):
    preset: str = Field(description="The preset, as resolved.")
    box: list[int] = Field(description="Suggested crop box (left, top, right, bottom) in upright source pixels.")
    anchor: str = Field(description="What the box was placed on: face, faces, subject or centre.")
    target_size: list[int] = Field(description="The preset's delivered size in pixels.")
    upscale: float = Field(description="Delivered size over box size; above 1 the photo cannot fill the preset without upscaling.")
    source_size: list[int] = Field(description="The upright photo's size in pixels, the box's coordinate space.")


class RecipeOut(RecipeFields):
    # A plain two-number array on the wire: tools that read the spec as draft-4 JSON Schema reject prefixItems.
    strength_range: list[float] = Field(min_length=2, max_length=2, description="Recommended image strength range (low, high).")
    name: str = Field(description="Recipe name.")
    version: int = Field(description="Version number; versions never change.")
    ref: str = Field(description="name@version, as jobs record it.")
    builtin: bool = Field(description="Shipped with photogen (read-only).")


class RecipeDiff(BaseModel):
    name: str = Field(description="Recipe name.")
    from_version: int = Field(description="Older version.")
    to_version: int = Field(description="Newer version.")
    changes: list[dict[str, Any]] = Field(description="Each changed field with its old and new value.")


class SweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: Literal["image_strength", "seed", "guidance", "steps"] = Field(description="The one control to sweep.")
    values: list[float] = Field(min_length=2, max_length=12, description="Its values, e.g. [0.3, 0.45, 0.6, 0.75]; whole numbers for seed and steps.")

    @model_validator(mode="after")
    def _check_whole_numbers(self) -> SweepSpec:
        if self.field in ("seed", "steps"):
            fractional = [v for v in self.values if v != int(v)]
            if fractional:
                raise ValueError(f"values: {self.field} takes whole numbers, not {fractional[0]:g}")
        return self


class SweepIn(GenerationIn):
    """A generation payload plus the control to sweep; every other field stays fixed (same seed)."""

    sweep: SweepSpec = Field(description="Which control to sweep and its values.")


class VaryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    changes: dict[str, Any] = Field(description="Exactly one field of the job's request with its new value, e.g. {\"image_strength\": 0.6}.")


class PrintSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    width: float = Field(ge=0.01, le=100000, description="Print width.")
    height: float = Field(ge=0.01, le=100000, description="Print height.")
    unit: Literal["in", "cm"] = Field(default="in", description="Unit of width and height.")
    dpi: int = Field(default=300, ge=1, le=2400, description="Print resolution in dots per inch.")


class UpscaleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    factor: Literal[2, 4] = Field(default=2, description="Enlargement factor.")
    method: Literal["auto", "tiled_refine", "realesrgan", "lanczos"] = Field(default="auto", description="auto: tiled img2img refine with the job's model, else Real-ESRGAN if installed, else Lanczos.")
    model: str | None = Field(default=None, description="Model for the tiled refine; default the model that made the asset.")
    prompt: str = Field(default="", max_length=2000, description="Prompt for the tiled refine; default a neutral detail prompt.")
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description="Seed of the refine (tile k uses seed + k).")
    print: PrintSpec | None = Field(default=None, description="Target print size: the job records whether the factor reaches it.")


class PrintAdviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    width_px: int = Field(ge=1, le=100000, description="Image width in pixels.")
    height_px: int = Field(ge=1, le=100000, description="Image height in pixels.")
    print: PrintSpec = Field(description="Target print size.")
    factor: Literal[2, 4] | None = Field(default=None, description="The upscale factor you plan to use.")
