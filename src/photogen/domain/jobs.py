"""Jobs: the state machine (queued -> running -> succeeded | failed | canceled) and the JobSpec union,
what a job does (generate | sweep | upscale | replay | vary | restore), versioned so later formats can migrate."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from photogen.domain.errors import PhotogenError
from photogen.domain.params import MAX_SEED, GenerationRequest, describe_validation_error


class JobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELED)


# running -> queued is the re-queue of a job whose worker stopped mid-run.
ALLOWED = {
    JobState.QUEUED: {JobState.RUNNING, JobState.CANCELED},
    JobState.RUNNING: {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELED, JobState.QUEUED},
    JobState.SUCCEEDED: set(),
    JobState.FAILED: set(),
    JobState.CANCELED: set(),
}


class InvalidTransition(PhotogenError):
    code = "invalid_transition"


def check_transition(current: JobState, new: JobState) -> None:
    if new not in ALLOWED[current]:
        raise InvalidTransition(
            f"a {current.value} job cannot become {new.value}",
            hint="only queued or running jobs can change state",
        )


# -- what a job does: its spec, stored as JSON in jobs.request -------------------------------------

SPEC_VERSION = 1


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = Field(default=SPEC_VERSION, description="The spec's format; a newer format is migrated.")


class JobOrigin(BaseModel):
    """The compatibility path a job came through (the how-to's /v1/image-to-image, OpenAI's images API,
    AUTOMATIC1111's sdapi) and the fields of its request photogen ignored, as those APIs ignore what they do
    not know."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(min_length=1, max_length=100, description="The path the request came to.")
    ignored_fields: tuple[str, ...] = Field(default=(), max_length=200,
                                            description="Fields of the request photogen did not use, by name.")
    user: str | None = Field(default=None, max_length=256,
                             description="The caller's own label for its end user (OpenAI's `user`), kept as given.")


class JobReference(BaseModel):
    """One photo a generation drew on: its source (role "source") or a reference image beside it, by upload and
    by the SHA-256 of its bytes (which outlives the upload)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    position: int = Field(ge=0, description="0 for the source; 1, 2, ... for the references in request order.")
    upload_id: str = Field(min_length=1, max_length=64)
    sha256: str = Field(min_length=64, max_length=64)
    role: Literal["source", "reference"]


class GenerateSpec(_Spec):
    """Make `request.num_images` outputs from the job's upload."""

    kind: Literal["generate"] = "generate"
    request: GenerationRequest
    via: JobOrigin | None = Field(default=None, description="Set when the job came through a compatibility path.")
    identity_id: str | None = Field(default=None, max_length=64,
                                    description="The identity set the source and references were drawn from.")
    reference_uploads: tuple[JobReference, ...] = Field(
        default=(), description="The source and each reference image, by upload and SHA-256, when the job has "
        "references.")
    warnings: tuple[str, ...] = Field(default=(), max_length=20,
                                      description="What the checks before the run warned about (a head turn "
                                      "past what the references show, ...).")
    delivery: Literal["preset", "native"] | None = Field(
        default=None, description="preset: each output smaller than the crop preset's size is also delivered at "
        "that size by the upscale pass; native (or None): the model's size only.")

    @property
    def num_images(self) -> int:
        return self.request.num_images


class ReplaySpec(GenerateSpec):
    """Run job `parent_id`'s request again; the outputs are compared with the parent's when it ends."""

    kind: Literal["replay"] = "replay"  # type: ignore[assignment]
    parent_id: str = Field(min_length=1)


class VarySpec(GenerateSpec):
    """Job `parent_id`'s request with one field changed (`changes`), same seed."""

    kind: Literal["vary"] = "vary"  # type: ignore[assignment]
    parent_id: str = Field(min_length=1)
    changes: dict[str, Any] = Field(default_factory=dict)


class SweepSpec(_Spec):
    """One output per value of `field` on `base` (same crop, same seed), and a labelled grid."""

    kind: Literal["sweep"] = "sweep"
    base: GenerationRequest
    field: str = Field(min_length=1)
    values: list[Any] = Field(min_length=1)

    @property
    def num_images(self) -> int:
        return len(self.values)


class UpscaleSpec(_Spec):
    """Enlarge asset `source_asset_id` by `factor`, with `method` (the tiled refine runs `model`)."""

    kind: Literal["upscale"] = "upscale"
    source_asset_id: str = Field(min_length=1)
    factor: int = Field(ge=1, le=8)
    method: Literal["auto", "tiled_refine", "realesrgan", "lanczos"] = "auto"
    model: str | None = None
    prompt: str = ""
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    print: dict[str, Any] | None = None

    @property
    def num_images(self) -> int:
        return 1


class RestoreSpec(_Spec):
    """Restore the job's upload (an old photo's scan) at its own size: damage map (or the user's mask, upload
    `mask_upload_id`), repair (with `model`'s inpainting pipeline, else OpenCV), tones, optional colourisation
    and the faces' pass; every step is an asset of the job."""

    kind: Literal["restore"] = "restore"
    mask_upload_id: str | None = Field(default=None, min_length=1, description="An upload holding the mask to "
                                       "repair (white where damaged), instead of the detected damage map.")
    model: str | None = Field(default=None, description="The model that repairs, colourises and passes over "
                              "faces; None: OpenCV only.")
    colourise: bool = False
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    steps: int = Field(default=20, ge=1, le=150, description="Scheduler steps of the model's passes.")

    @property
    def num_images(self) -> int:
        return 1


JobSpec = Annotated[GenerateSpec | ReplaySpec | VarySpec | SweepSpec | UpscaleSpec | RestoreSpec,
                    Field(discriminator="kind")]
GenerationSpec = GenerateSpec | ReplaySpec | VarySpec
_JOB_SPEC: TypeAdapter[JobSpec] = TypeAdapter(JobSpec)


class UnreadableJobSpec(PhotogenError):
    code = "unreadable_job_spec"


def parse_job_spec(data: Any) -> JobSpec:
    """The typed spec of a stored `jobs.request` value."""
    version = data.get("version") if isinstance(data, dict) else None
    if version != SPEC_VERSION:
        raise UnreadableJobSpec(
            f"the job's spec has format {version!r}; this photogen reads format {SPEC_VERSION}",
            hint="upgrade the database with the matching photogen (the server migrates it when it starts)",
        )
    try:
        return _JOB_SPEC.validate_python(data)
    except ValidationError as exc:
        raise UnreadableJobSpec(f"the job's spec is not valid: {describe_validation_error(exc)}",
                                hint="the row was written by another program or edited by hand") from None


def dump_job_spec(spec: JobSpec) -> dict[str, Any]:
    """What `jobs.request` stores; a job that came through the /v1 API stores no `via`."""
    data = spec.model_dump(mode="json")
    if data.get("via", 0) is None:
        del data["via"]
    if data.get("identity_id", 0) is None:  # fields a job without references leaves out, as before they existed
        del data["identity_id"]
    if data.get("reference_uploads", 0) == []:
        del data["reference_uploads"]
    if data.get("warnings", 0) == []:
        del data["warnings"]
    if data.get("delivery", 0) is None:
        del data["delivery"]
    return data


def generation_spec(request: GenerationRequest, *, parent_id: str | None = None, relation: str | None = None,
                    changes: dict[str, Any] | None = None, via: JobOrigin | None = None,
                    identity_id: str | None = None,
                    reference_uploads: tuple[JobReference, ...] = (),
                    warnings: tuple[str, ...] = ()) -> GenerationSpec:
    """A generation's spec: plain (from a compatibility path when `via` says so), or a replay or variation of
    job `parent_id`; `identity_id` and `reference_uploads` record where its photos came from."""
    drawn = {"identity_id": identity_id, "reference_uploads": reference_uploads, "warnings": warnings}
    if relation == "replay" and parent_id:
        return ReplaySpec(request=request, parent_id=parent_id, **drawn)
    if relation == "vary" and parent_id:
        return VarySpec(request=request, parent_id=parent_id, changes=changes or {}, **drawn)
    return GenerateSpec(request=request, via=via, **drawn)


def request_view(spec: JobSpec) -> dict[str, Any]:
    """The flat request clients have always been shown (and exports hold): a generation's fields; a sweep's
    base with `num_images` and `sweep: {field, values}`; an upscale's options with `num_images`."""
    if isinstance(spec, SweepSpec):
        return {**spec.base.model_dump(mode="json"), "num_images": spec.num_images,
                "sweep": {"field": spec.field, "values": list(spec.values)}}
    if isinstance(spec, UpscaleSpec):
        return {**spec.model_dump(mode="json", include={"factor", "method", "model", "prompt", "seed", "print"}),
                "num_images": 1}
    if isinstance(spec, RestoreSpec):
        return {**spec.model_dump(mode="json", include={"mask_upload_id", "model", "colourise", "seed", "steps"}),
                "num_images": 1}
    return spec.request.model_dump(mode="json")
