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
    identity_id: str | None = Field(default=None, min_length=1, max_length=64,
                                    description="Draw on an identity set: its first usable photo is the source unless "
                                    "image, image_url or upload_id is given; the next ones are reference images, as "
                                    "many as the model takes. Outputs are scored against the whole set.")
    reference_upload_ids: list[str] | None = Field(
        default=None, max_length=8, description="Reference photos by upload id, in order: the first is the source "
        "unless image, image_url or upload_id is given; the others are reference images (at most the model's "
        "max_references).")
    delivery: Literal["preset", "native"] | None = Field(
        default=None, description="preset: each output smaller than the crop preset's delivery size (e.g. 800x1000 "
        "for headshot) is also delivered at that size by the upscale pass, as an upscale asset of its own; native "
        "or left out: the model's size only.")

    @field_validator("callback_url")
    @classmethod
    def _check_callback(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must be an http(s) URL; leave callback_url out for no callback")
        return value

    @model_validator(mode="after")
    def _check_combination(self) -> GenerationIn:
        """GenerationRequest's checks; a default image strength is left to the model (an edit model has none),
        so it cannot refuse the steps here: the request is checked again once fitted to its model."""
        if "image_strength" in self.model_fields_set:
            GenerationRequest._check_combination(self)
        else:
            GenerationRequest._check_combination(self.model_copy(update={"image_strength": None}))
        return self

    def given_fields(self) -> dict[str, Any]:
        """The generation fields the caller set, without the source, callback, recipe or sweep."""
        skip = {"image", "image_url", "upload_id", "callback_url", "recipe", "sweep", "identity_id",
                "reference_upload_ids", "delivery"}
        return {name: getattr(self, name) for name in self.model_fields_set & set(GenerationIn.model_fields) - skip}

    def generation_fields(self) -> dict[str, Any]:
        """Every field of the generation request (the GenerationRequest fields), set or default."""
        return self.model_dump(include=set(GenerationRequest.model_fields))

    @property
    def source_given(self) -> bool:
        """Whether the body names its own source photo (else its references' first photo is the source)."""
        return any(value is not None for value in (self.image, self.image_url, self.upload_id))


class Progress(BaseModel):
    step: int = Field(description="Denoising steps done (all images of the job advance together).")
    total: int = Field(description="Denoising steps in all.")
    images: list[dict[str, int]] = Field(description="Per image: index, step, total.")


class JobError(BaseModel):
    code: str = Field(description="Error code.")
    message: str = Field(description="What went wrong.")


class AssetOut(BaseModel):
    id: str = Field(description="Asset id.")
    kind: Literal["crop", "output", "grid", "upscale", "scan", "damage_mask", "mask_preview", "repair", "tones",
                  "colourise"] = Field(
        description="crop: the cropped source the model saw; output: a generated image (a restoration's result); "
        "grid: a sweep's labelled grid; upscale: an enlarged asset. A restoration's steps: scan (the before, as read, "
        "full size), damage_mask (white where damaged, the scan's size), mask_preview (the scan with the damage tinted), repair, tones, colourise.")
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


class JobOriginOut(BaseModel):
    path: str = Field(description="The compatibility path the request came to, e.g. /sdapi/v1/img2img.")
    ignored_fields: list[str] = Field(description="Fields of the request photogen did not use, by name (as the "
                                      "original APIs ignore fields they do not know).")
    user: str | None = Field(default=None, description="The caller's label for its end user (OpenAI's `user`).")


class JobReferenceOut(BaseModel):
    position: int = Field(description="0 for the source; 1, 2, ... for the reference images in request order.")
    upload_id: str = Field(description="The upload (it may since have been deleted; the SHA-256 names the bytes).")
    sha256: str = Field(description="SHA-256 of the photo's original bytes.")
    role: Literal["source", "reference"] = Field(description="source: the photo the edit starts from.")


class JobOut(BaseModel):
    id: str = Field(description="Job id.")
    state: Literal["queued", "running", "succeeded", "failed", "canceled"] = Field(description="Where the job is.")
    kind: Literal["generate", "sweep", "upscale", "restore"] = Field(description="What the job does.")
    recipe: str | None = Field(description="The recipe it came from, as name@version.")
    parent_id: str | None = Field(description="The job this one derives from (vary, replay, upscale, retry).")
    relation: str | None = Field(description="How it derives from its parent: vary, replay, upscale, or retry (an "
                                 "avatar set's run again with the next seeds).")
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
    via: JobOriginOut | None = Field(default=None, description="Where a job that came through a compatibility path "
                                     "came from, and what of its request was ignored; null for the /v1 API.")
    identity_id: str | None = Field(default=None, description="The identity set its photos were drawn from.")
    references: list[JobReferenceOut] = Field(default_factory=list, description="The source and each reference "
                                              "image a generation with references drew on, by upload and SHA-256.")
    warnings: list[str] = Field(default_factory=list, description="What the checks before the run warned about, "
                                "e.g. a head turn past what the references show.")


class Lineage(BaseModel):
    upload: UploadOut = Field(description="The original upload.")
    crop: AssetOut | None = Field(description="The cropped source the model saw.")
    job: JobOut | None = Field(description="The generation job.")
    outputs: list[AssetOut] = Field(description="All outputs of the generation job.")
    ancestors: list[AssetOut] = Field(description="From the asset up to its generated output: the upscales it came through, nearest first.")
    upscales: list[AssetOut] = Field(description="Upscales made from the generation's outputs, at any depth.")
    graph: dict[str, Any] = Field(description="The same as nodes and edges: upload -> crop -> job -> outputs -> upscales.")
    references: list[JobReferenceOut] = Field(default_factory=list, description="The photos the job drew on: its "
                                              "source and each reference image, by upload id and SHA-256 (the "
                                              "record stays when a reference upload is deleted).")


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
    default_reference_strength: float | None = Field(
        default=None, description="reference_strength used when a request with references sets none.")
    guidance: Literal["cfg", "embedded", "none"] | None = Field(
        default=None, description="How guidance works: cfg (a guided pair per image), embedded (distilled guidance, "
        "an input of the model), none (step-distilled: guidance is ignored).")
    prompt_kind: Literal["description", "instruction"] | None = Field(
        default=None, description="description: the prompt describes the output; instruction: it says what to change "
        "(\"make the coat red\").")
    default_guidance: float | None = Field(default=None, description="Guidance used when a request sets none (None: 7).")
    default_steps: int | None = Field(default=None, description="Steps used when a request sets none (None: 30).")
    min_steps: int = Field(default=1, description="Fewest steps a request may ask for.")
    max_angle: int = Field(default=0, description="Largest head turn (`angle`, yaw degrees) a request may ask for; "
                           "0: the model has no angle control.")


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
    family: str | None = Field(description="Model family: sd1, sd2, sdxl, flux2-klein, flux-kontext or "
                               "qwen-image-edit-plus; None when its configs cannot be read.")
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
    field: Literal["image_strength", "seed", "guidance", "steps", "angle"] = Field(
        description="The one control to sweep (angle: head turns in degrees, e.g. [-30, -15, 15, 30], on models "
        "with an angle control).")
    values: list[float] = Field(min_length=2, max_length=12, description="Its values, e.g. [0.3, 0.45, 0.6, 0.75]; whole numbers for seed and steps.")

    @model_validator(mode="after")
    def _check_whole_numbers(self) -> SweepSpec:
        if self.field in ("seed", "steps", "angle"):
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
    index: int | None = Field(default=None, ge=0, le=15, description="Vary only this image of the job (its seed, one "
                              "image); left out: all of them.")


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


class RestorationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image: str | None = Field(default=None, description="The scan, base64-encoded (give one of image, image_url, "
                              "upload_id).")
    image_url: str | None = Field(default=None, max_length=2000, description="A URL to fetch the scan from.")
    upload_id: str | None = Field(default=None, description="An upload holding the scan.")
    mask: str | None = Field(default=None, description="Your own damage mask, base64 PNG at the scan's size: white "
                             "where damaged. Leave it out to have the damage found; send an edited damage_mask "
                             "asset to repair what you painted.")
    mask_upload_id: str | None = Field(default=None, description="An upload holding the mask, instead of `mask`.")
    model: str | None = Field(default=None, description="The model that repairs (its inpainting pipeline, "
                              "or an instruction-edit model told to repair), passes over faces and colourises; "
                              "none: OpenCV repairs and no model runs.")
    colourise: bool = Field(default=False, description="Colourise a black-and-white scan (needs a model that "
                            "follows instructions).")
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description="Seed of the model's passes (tile k: seed + k).")
    steps: int = Field(default=20, ge=1, le=150, description="Scheduler steps of the model's passes (repair, faces, "
                       "colourise).")


class PrintAdviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    width_px: int = Field(ge=1, le=100000, description="Image width in pixels.")
    height_px: int = Field(ge=1, le=100000, description="Image height in pixels.")
    print: PrintSpec = Field(description="Target print size.")
    factor: Literal[2, 4] | None = Field(default=None, description="The upscale factor you plan to use.")


# -- identity sets -------------------------------------------------------------------------------

UploadIdItem = Annotated[str, Field(min_length=1, max_length=64)]


class IdentitySetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, description="What to call the person or product, e.g. 'Eileen'.")
    kind: Literal["person", "product"] = Field(default="person", description="person: faces are measured (angles, identity similarity); product: the salient subject is.")
    upload_ids: list[UploadIdItem] = Field(min_length=1, max_length=50, description="Your uploads of this person or product, in order; at least one must be usable.")


class IdentitySetPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200, description="A new name.")
    add: list[UploadIdItem] | None = Field(default=None, max_length=50, description="Uploads to add at the end.")
    remove: list[UploadIdItem] | None = Field(default=None, max_length=50, description="References to take out (kept in the set's history).")
    upload_ids: list[UploadIdItem] | None = Field(default=None, min_length=1, max_length=50, description="The whole new list of references, in order (instead of add and remove).")


class ReferenceMeasuresOut(BaseModel):
    subject: Literal["face", "product"] = Field(description="What was measured: the largest face, or the product (the salient subject).")
    frame_size: list[int] = Field(description="Width and height of the pixels measured (the upload's analysis preview).")
    face_count: int = Field(description="Prominent faces found; with more than one, the largest is the reference.")
    yaw_degrees: float | None = Field(description="Head turn from the landmarks: 0 faces the camera, positive when the nose points to the photo's right.")
    roll_degrees: float | None = Field(description="Head tilt: the eye line's angle from horizontal.")
    face_share: float | None = Field(description="Face box height over frame height (camera distance: larger is closer).")
    subject_share: float | None = Field(description="A product's box area over the frame's area.")
    brightness: float | None = Field(description="Mean luma (0-255) of the face's inner region, or of the product.")
    light_direction_stops: float | None = Field(description="How many stops brighter the right half is than the left (positive: light from the photo's right).")


class IdentityReferenceOut(BaseModel):
    upload_id: str = Field(description="The upload.")
    filename: str = Field(description="Its file name, as uploaded.")
    position: int = Field(description="Its place in the set's order, from 0.")
    usable: bool = Field(description="Whether it counts as a reference: preflight not blocked and, for a person, a face found.")
    reasons: list[str] = Field(description="Why it is not usable.")
    warnings: list[str] = Field(description="Preflight warnings and notes that do not stop it being used.")
    preflight_level: str | None = Field(description="Its preflight report's overall level: ok, warn or block.")
    angle: str | None = Field(description="straight_on, three_quarter_left or three_quarter_right (the side of the photo the nose points to).")
    distance: str | None = Field(description="close_up, head_and_shoulders or wide (products: detail, whole, in_context).")
    light: str | None = Field(description="even, from_left or from_right.")
    similarity: float | None = Field(description="Mean identity similarity (cosine, SFace) to the set's person; 0.363 or more passes as the same person.")
    level: Literal["ok", "warn", "block"] = Field(description="block: not usable or somebody else; warn: matches weakly.")
    note: str = Field(description="What the report says about it, in words.")
    measures: ReferenceMeasuresOut | None = Field(description="The measured values behind angle, distance and light.")
    added_at: UtcDatetime = Field(description="When it joined the set (UTC).")


class CoverageSpreadOut(BaseModel):
    measure: str = Field(description="What was measured.")
    unit: str = Field(description="Its unit.")
    min: float | None = Field(description="Lowest value over the usable references.")
    max: float | None = Field(description="Highest value.")
    spread: float | None = Field(description="max - min.")
    counts: dict[str, int] = Field(description="Usable references per band.")


class CoverageLightingOut(BaseModel):
    brightness: CoverageSpreadOut = Field(description="Face (or product) brightness.")
    direction: CoverageSpreadOut = Field(description="Which side the light comes from: even, from_left, from_right.")


class CoverageReferencesOut(BaseModel):
    total: int = Field(description="References in the set.")
    usable: int = Field(description="Of those, usable.")


class CoverageFlagOut(BaseModel):
    upload_id: str = Field(description="The reference flagged.")
    name: str = Field(description="Its file name.")
    level: Literal["warn", "block"] = Field(description="block: does not pass as the set's person (somebody else, or a face past recognising); warn: matches less well than the rest.")
    similarity: float | None = Field(description="Its mean identity similarity to the set's person.")
    message: str = Field(description="What was found, with the score.")
    fix: str = Field(description="What to do about it.")


class CoveragePairOut(BaseModel):
    a: str = Field(description="One upload id.")
    b: str = Field(description="The other.")
    similarity: float = Field(description="Their identity similarity (cosine).")


class CoverageConsistencyOut(BaseModel):
    level: Literal["ok", "warn", "block", "not_measured"] = Field(description="block: somebody else in the set, or no two alike; not_measured: fewer than two faces.")
    message: str = Field(description="The finding in words.")
    threshold: float = Field(description="Similarity at and above which two faces pass as one person (OpenCV's SFace threshold).")
    pairs: list[CoveragePairOut] = Field(description="Every pair of usable references with its similarity.")


class CoverageOut(BaseModel):
    kind: Literal["person", "product"] = Field(description="What the set is of.")
    level: Literal["ok", "warn", "block"] = Field(description="block: nothing usable, or somebody else in the set; warn: gaps or weak matches.")
    references: CoverageReferencesOut = Field(description="How many references, how many usable.")
    angles: dict[str, int] | None = Field(description="Usable references per head angle: straight_on, three_quarter_left, three_quarter_right (None for products).")
    distance: CoverageSpreadOut = Field(description="Spread of camera distance.")
    lighting: CoverageLightingOut = Field(description="Spread of light.")
    consistency: CoverageConsistencyOut = Field(description="How alike the references' faces are.")
    flags: list[CoverageFlagOut] = Field(description="References to look at, by name, with their scores.")
    missing: list[str] = Field(description="What the set lacks, in plain words.")
    notes: list[str] = Field(description="What was not measured, and why.")


class IdentityHistoryOut(BaseModel):
    at: UtcDatetime = Field(description="When (UTC).")
    action: Literal["added", "removed"] = Field(description="What happened to the reference.")
    upload_id: str = Field(description="The upload.")
    filename: str | None = Field(description="Its file name; null once the upload is deleted.")
    by: str = Field(description="Who did it (the owner, or retention).")
    reason: str = Field(description="Why it was removed, e.g. 'upload deleted: requested by the owner'.")


class IdentitySetSummaryOut(BaseModel):
    id: str = Field(description="Identity set id.")
    name: str = Field(description="Its name.")
    kind: Literal["person", "product"] = Field(description="What it is of.")
    references: int = Field(description="References it holds.")
    usable: int = Field(description="Of those, usable.")
    created_at: UtcDatetime = Field(description="When it was made (UTC).")
    updated_at: UtcDatetime = Field(description="When it last changed (UTC).")


class IdentitySetOut(IdentitySetSummaryOut):
    members: list[IdentityReferenceOut] = Field(description="Its references, in order.")
    coverage: CoverageOut = Field(description="The coverage report, computed from the references' stored measures.")
    history: list[IdentityHistoryOut] = Field(description="Every reference added and removed, oldest first.")


class IdentitySetDeletedOut(BaseModel):
    deleted: dict[str, int] = Field(description="How many current references and history records went with it (the uploads stay).")


# -- avatar sets ---------------------------------------------------------------------------------

class AvatarSetIn(BaseModel):
    """An identity set, the scenarios to run it through (one run per scenario) and how many outputs each."""

    model_config = ConfigDict(extra="forbid")
    identity_id: str = Field(min_length=1, max_length=64, description="The identity set the runs draw on.")
    scenarios: list[str] = Field(min_length=1, max_length=8, description="Recipes, one run each (name or "
                                 "name@version), e.g. avatar-corporate-headshot, avatar-creator-portrait.")
    num_images: int = Field(default=2, ge=1, le=4, description="Outputs per scenario, with seeds seed, seed+1, ...")
    model: str | None = Field(default=None, min_length=1, description="Model name; omitted uses the server's default.")
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1, description="Seed of each scenario's first output; "
                             "None picks one. Every scenario uses the same seeds.")
    details: str = Field(default="", max_length=500, description="Your words, filled into each scenario's template.")
    retry: bool = Field(default=False, description="Run a scenario again with its next seeds when an output falls "
                        "below the identity threshold (PHOTOGEN_IDENTITY_THRESHOLD).")
    max_retries: int = Field(default=1, ge=0, le=3, description="Most retries per scenario (with retry).")
    steps: int | None = Field(default=None, ge=1, le=150, description="Steps per output; None: the model's own.")
    size: int | None = Field(default=None, ge=64, le=2048, description="Square output side in pixels; None: the "
                             "scenario's crop at the model's native size.")


class AvatarRunOut(BaseModel):
    scenario: str = Field(description="The scenario's recipe, as given.")
    job_id: str = Field(description="The generation job of this run.")
    state: str = Field(description="The job's state.")
    attempt: int = Field(description="0 for the first run; 1, 2, ... for retries with the next seeds.")
    retry_of: str | None = Field(description="For a retry: the job it retries (its parent in the lineage).")
    outputs: list[AssetOut] = Field(description="The run's outputs with their scores (identity_set: best and mean "
                                    "similarity to the set; drift flags).")
    error: JobError | None = Field(default=None, description="Why the run failed.")


class AvatarSetOut(BaseModel):
    id: str = Field(description="Avatar set id.")
    state: Literal["running", "succeeded", "failed"] = Field(description="running until every run has ended and "
                                                             "the grid is made.")
    identity_id: str = Field(description="The identity set it draws on.")
    spec: dict[str, Any] = Field(description="Scenarios, outputs per scenario, model, seed, retries, threshold.")
    runs: list[AvatarRunOut] = Field(description="One run per scenario, then its retries.")
    marked: list[str] = Field(description="Outputs below the identity threshold (or without a face), by asset id.")
    grid: AssetOut | None = Field(description="The grid: a row per scenario with its best outputs, each labelled "
                                  "with seed and identity score; its record lists every cell.")
    created_at: UtcDatetime = Field(description="When it was made (UTC).")
