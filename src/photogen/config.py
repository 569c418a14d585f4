"""One Settings object, read from the environment (prefix PHOTOGEN_) once and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

# An optimisation switch: "auto" applies it where it was measured to help (CUDA), "on" and "off" force it.
Switch = Literal["auto", "on", "off"]

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting photogen reads. Each can be set as PHOTOGEN_<NAME> in the environment."""

    model_config = SettingsConfigDict(env_prefix="PHOTOGEN_", extra="ignore")

    home: Path = Field(
        default=Path.home() / ".photogen",
        description="Folder for photogen's own data: built models, outputs of the CLI by default.",
    )
    default_model: str = Field(
        default="tiny",
        description="Model used when a request names none: 'tiny', an id from `models`, a hub id, a diffusers folder "
        "or a .safetensors file (the server offers it to API requests under this name, or its file name for a path).",
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        default="auto", description="Where models run; 'auto' takes CUDA when present, else the CPU."
    )
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        default="auto", description="Weight precision; 'auto' is float16 on CUDA and float32 elsewhere."
    )
    offline: bool = Field(
        default=False, description="Never download: hub ids must already be in the local cache."
    )
    hub_cache: Path | None = Field(
        default=None,
        description="Folder of the Hugging Face hub cache that hub ids are downloaded to and read from (its "
        "models--owner--name layout); None uses the hub client's own (HF_HUB_CACHE, else ~/.cache/huggingface/hub).",
    )
    max_pixels: int = Field(
        default=50_000_000, ge=1, description="Uploads with more pixels than this are refused before decoding."
    )
    # Models the server offers, how many stay loaded, and what each API owner may use.
    models: dict[str, str] = Field(
        default_factory=dict,
        description="The server's model catalogue: a JSON mapping of ids to a hub id, a diffusers folder or a "
        ".safetensors file, e.g. {\"sd15\": \"/models/sd15.safetensors\"}; an SD 1.x or SDXL model with an "
        "IP-Adapter is {\"model\": ..., \"ip_adapter\": \"/models/IP-Adapter/models/ip-adapter_sd15.safetensors\"} "
        "(or the spec MODEL+ip-adapter=WEIGHTS). API requests may name only these ids, 'tiny' and the default "
        "model; the CLI takes any path or hub id.",
    )

    @field_validator("models", mode="before")
    @classmethod
    def _model_entries(cls, value: object) -> object:
        """{"model": M, "ip_adapter": W} entries become the spec M+ip-adapter=W (photogen.engines.ip_adapter)."""
        if not isinstance(value, dict):
            return value
        specs = {}
        for model_id, entry in value.items():
            if isinstance(entry, dict):
                unknown = set(entry) - {"model", "ip_adapter"}
                if "model" not in entry or unknown:
                    raise ValueError(f"entry {model_id!r}: an object entry is {{\"model\": ..., \"ip_adapter\": ...}}"
                                     + (f"; unknown keys {sorted(unknown)}" if unknown else ""))
                entry = entry["model"] + (f"+ip-adapter={entry['ip_adapter']}" if entry.get("ip_adapter") else "")
            specs[model_id] = entry
        return specs

    max_loaded_models: int = Field(
        default=2, ge=1, description="Most models the server keeps loaded; the least recently used is dropped first."
    )
    max_model_memory_mb: int = Field(
        default=16_384, ge=1,
        description="Memory the loaded models may take together (their weights, in MiB); above it the least "
        "recently used are dropped (a model always stays loaded while it is the only one).",
    )
    max_active_jobs_per_owner: int = Field(
        default=20, ge=1, description="Jobs one owner (API key's owner, or 'local') may have queued or running at once."
    )
    uploads_per_minute: int = Field(
        default=30, ge=1,
        description="Uploads one owner may make in any 60 seconds, counting images sent inline with a generation.",
    )
    max_stored_bytes_per_owner: int = Field(
        default=5_000_000_000, ge=1,
        description="Bytes one owner may keep stored: uploads plus generated assets.",
    )

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata database; default a SQLite file in the home folder. "
        "PostgreSQL: postgresql+psycopg://user@host/db",
    )
    blob_url: str | None = Field(
        default=None,
        description="Where blobs (originals, outputs) are kept: a folder (default home/blobs) or an fsspec URL "
        "such as s3://bucket/prefix.",
    )
    host: str = Field(default="127.0.0.1", description="Address `photogen serve` binds to.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `photogen serve` listens on.")
    # -- who may talk to the server ------------------------------------------------------------
    auth: Literal["auto", "required", "off"] = Field(
        default="auto",
        description="API keys: 'auto' requires them once the first key is created, and for good (revoking "
        "keys never switches them off); 'required' requires them from the start; 'off' lets everyone in as "
        "owner 'local' and is refused unless the server listens on loopback only.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host header values accepted besides localhost, loopback IPs and the bound address "
        "(names such as photos.example.org, or name:port; '*' accepts any). JSON list in the environment.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Other web origins (scheme://host[:port]) allowed to call the API from a browser, "
        "state-changing requests included; empty (the default) allows none. JSON list in the environment.",
    )
    max_upload_bytes: int = Field(default=30_000_000, ge=1, description="Largest upload accepted, in bytes.")
    # -- memory of decoding and request bodies
    max_decoded_bytes: int = Field(
        default=256 * 1024 * 1024, ge=1,
        description="Most memory one image may take once decoded, counted from its header before decoding: "
        "width x height x bands x bytes per band (at least 3 bands; alpha adds one, 16-bit samples count 2). "
        "Larger images are refused with image_decoded_too_large.",
    )
    max_concurrent_decodes: int = Field(
        default=2, ge=1, description="Most image decodes the process runs at once; more wait their turn."
    )
    max_json_body_bytes: int = Field(
        default=1024 * 1024, ge=1,
        description="Largest JSON request body of endpoints that take no image, in bytes. Bodies that carry a "
        "photo (uploads, generations, sweeps, /v1/image-to-image, /sdapi/v1/img2img) and bodies that are not JSON "
        "may be max_upload_bytes as base64 (4/3 of it plus 64 KiB), an OpenAI edit form nine times that; a larger "
        "body is answered 413 as soon as it passes its limit, without being read whole.",
    )
    url_fetch_timeout_s: float = Field(default=15.0, gt=0, description="Time limit for fetching an upload URL.")
    url_allowlist: list[str] = Field(
        default_factory=list,
        description="Hosts, IPs or CIDRs that upload and callback URLs may reach even though they are "
        "private or loopback (JSON list in the environment).",
    )
    job_max_attempts: int = Field(default=3, ge=1, description="Runs a job gets before it is marked failed.")
    max_batch_images: int = Field(default=8, ge=1, description="Most images the worker runs as one batch.")
    batch_window_ms: float = Field(
        default=25.0,
        ge=0,
        description="How long the worker holds the oldest queued job for compatible ones to join its batch; "
        "no job waits longer than this past its submission.",
    )
    heartbeat_s: float = Field(
        default=5.0,
        gt=0,
        description="How often a worker renews the leases of the jobs it runs and its row in the health listing, "
        "in seconds; a worker silent for three intervals shows as not alive.",
    )
    lease_s: float = Field(
        default=30.0,
        gt=0,
        description="How long a claimed job stays a worker's without a heartbeat, in seconds; past it the job "
        "goes back to the queue (a killed worker's jobs are taken up again). Keep it several heartbeats long.",
    )
    compile: Switch = Field(
        default="auto",
        description="torch.compile the UNet, compiled and warmed at model load for each batch size in "
        "compile_batch_sizes; 'auto' is on for CUDA (about 2x per step) and off elsewhere (compiling on the "
        "CPU takes minutes and gains little).",
    )
    compile_mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = Field(
        default="reduce-overhead",
        description="torch.compile mode for the UNet; 'reduce-overhead' also captures CUDA graphs, which "
        "pays most at small batches.",
    )
    compile_batch_sizes: list[int] = Field(
        default_factory=lambda: [1, 2, 4, 8],
        description="Image counts the compiled UNet is built and warmed for (JSON list in the environment); "
        "a batch runs padded up to the next of them, and one larger than all of them runs uncompiled.",
    )
    compile_aspect_ratios: list[str] = Field(
        default_factory=lambda: ["1:1"],
        description="Aspect ratios whose native output size the compiled UNet is warmed for (JSON list); "
        "other sizes run uncompiled rather than compile while a user waits.",
    )
    channels_last: Switch = Field(
        default="auto", description="Channels-last memory format for the UNet and VAE; 'auto' is on for CUDA."
    )
    fuse_qkv: Switch = Field(
        default="auto",
        description="Fuse the attention query, key and value projections into one matrix; 'auto' is on for CUDA.",
    )
    vae_tiling: Switch = Field(
        default="auto",
        description="Decode and encode large images in tiles to bound memory; 'auto' tiles only images with a "
        "side above twice the model's native side (upscale passes), 'on' tiles above the VAE's own tile size.",
    )
    cpu_offload: bool = Field(
        default=False,
        description="Model CPU offload for GPUs with less memory than a model: each component (text encoder, "
        "denoiser, VAE) moves to the GPU only while it runs; slower. CUDA only (recorded as skipped elsewhere); "
        "torch.compile is off with it.",
    )
    quantize: Literal["off", "int8", "fp8"] = Field(
        default="off",
        description="Store the denoiser's and text encoders' linear weights in 8 bits with torchao "
        "(pip install 'photogen[quant]'): int8 weight-only (GPU or CPU), or fp8 weight-only where the GPU supports "
        "it (compute capability 8.9+: Ada, Hopper and newer). Where it cannot apply it is skipped and the reason "
        "recorded with each output.",
    )
    worker_enabled: bool = Field(default=True, description="Run the in-process worker inside `photogen serve`.")
    # -- distributed mode: Celery carries "work is available", the database keeps job state ----------------------
    queue: Literal["embedded", "celery"] = Field(
        default="embedded",
        description="Who runs jobs: 'embedded' is a worker thread inside `photogen serve`; 'celery' sends each "
        "submission to the broker and `photogen worker` processes (one per GPU) claim the jobs from the database. "
        "Celery needs a shared database (PostgreSQL), a broker and a shared blob store.",
    )
    broker_url: str | None = Field(
        default=None,
        description="Celery broker URL for PHOTOGEN_QUEUE=celery, such as redis://host:6379/0 (amqp:// for "
        "RabbitMQ). Live events travel through it too unless PHOTOGEN_EVENTS_URL names another Redis.",
    )
    broker_queue: str = Field(
        default="celery", min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$",
        description="Broker queue that carries photogen's Celery tasks (the announcements of new work "
        "and beat's periodic tasks); deployments that share one broker each take their own.",
    )
    run_slice_s: float = Field(
        default=60.0, ge=0,
        description="How long one Celery `photogen.run_queued` task goes on claiming new groups; past it the worker "
        "acknowledges the message and announces what is still queued in a new one, so beat's periodic tasks queued "
        "meanwhile get their turn and no message stays unacknowledged for long (RabbitMQ's consumer_timeout, "
        "Redis' visibility timeout). A group that started always runs to its end.",
    )
    metrics: bool = Field(
        default=True,
        description="Serve Prometheus metrics at GET /metrics. It asks for an API key whenever the rest of the API "
        "does; off answers 404 metrics_disabled.",
    )
    events_url: str | None = Field(
        default=None,
        description="Where live job events (progress, state changes, cancel requests) travel between processes: "
        "None keeps them in this process (the embedded queue); redis://host:port/db sends them through Redis "
        "pub/sub, so API servers and workers on other hosts see each other's progress and cancels. With the "
        "Celery queue it defaults to the broker URL (when that is a Redis URL).",
    )
    sse_ping_s: float = Field(
        default=15.0, gt=0, description="Seconds between keep-alive comments (`: ping`) on an idle event stream."
    )
    identity_threshold: float = Field(
        default=0.363, ge=0.0, le=1.0,
        description="Identity similarity (SFace cosine) below which an output no longer passes as the person of its "
        "identity set or references: it is flagged (identity_set_drift), marked in avatar sets and retried there "
        "when asked. 0.363 is OpenCV's published threshold for SFace.",
    )
    job_timeout_s: float | None = Field(
        default=1800.0,
        gt=0,
        description="Wall-clock limit of one job (CLI runs too), in seconds; past it the job is stopped within a "
        "fraction of a denoising step and fails with error code job_timeout. None: no limit.",
    )
    max_work_per_request: int = Field(
        default=1024 * 1024 * 8 * 50,
        ge=1,
        description="Most work one request may ask for, in pixel-steps: output width x height x images x "
        "denoising steps (summed over a sweep's variants; an upscale counts its output size x its refine steps). "
        "Larger requests are refused with 422 invalid_request. Default: 8 images of 1024x1024 at 50 steps.",
    )
    sync_wait_s: float = Field(
        default=60.0, ge=0,
        description="How long POST /v1/image-to-image waits for its job by default before it answers 202 with the "
        "job and its Location (a request's `Prefer: wait=N` changes it, up to sync_wait_max_s).",
    )
    sync_wait_max_s: float = Field(
        default=300.0, ge=0,
        description="The longest any request waits for its job: the cap on `Prefer: wait=N`, and how long the "
        "OpenAI and AUTOMATIC1111 paths (which have no 202) wait before answering 504 job_still_running with the "
        "job's id; the job goes on either way. Below the OpenAI SDK's 600 s timeout, so it never retries a wait.",
    )
    cpu_threads: int | None = Field(
        default=None,
        ge=1,
        description="Intra-op CPU threads for inference, set (with OMP_WAIT_POLICY=PASSIVE unless you set it) "
        "before torch loads; default one less than the usable cores, at most 8.",
    )
    webhook_retry_delays_s: list[float] = Field(
        default_factory=lambda: [1.0, 5.0, 25.0, 125.0],
        description="Waits between webhook delivery attempts after a failure (JSON list in the environment).",
    )
    webhook_poll_s: float = Field(
        default=5.0, gt=0,
        description="How often the webhook outbox is checked for due deliveries, in seconds: the longest wait of the "
        "delivery thread in `photogen serve`, and the schedule of the outbox task that `photogen beat` sends.",
    )
    webhook_secret: str | None = Field(
        default=None, description="Secret that signs webhook events; default a random one kept in the home folder."
    )

    original_exif: Literal["keep", "strip"] = Field(
        default="keep",
        description="keep: store uploads byte for byte in the protected original store; strip: store them "
        "re-encoded without GPS, serial numbers, maker notes or XMP. Served and exported images never carry these.",
    )
    retention_originals_days: int | None = Field(
        default=None, ge=1,
        description="Default retention of uploads (and everything made from them), in days; owners may set their own. "
        "None keeps them until deleted.",
    )
    retention_outputs_days: int | None = Field(
        default=None, ge=1, description="Default retention of generated outputs, in days. None keeps them."
    )
    purge_interval_s: float = Field(
        default=3600.0, gt=0,
        description="How often the retention policies are applied, in seconds: by `photogen serve`, or in the Celery "
        "mode by the purge task that `photogen beat` sends."
    )
    content_credentials: bool = Field(
        default=False,
        description="Sign outputs with C2PA Content Credentials naming photogen, the actions and the source upload.",
    )
    signing_cert: Path | None = Field(
        default=None,
        description="PEM certificate chain for Content Credentials; without it a development certificate is made "
        "in the home folder (labelled as such, not for publishing).",
    )
    signing_key: Path | None = Field(default=None, description="PEM private key matching signing_cert.")

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def outputs_dir(self) -> Path:
        return self.home / "outputs"

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'photogen.db'}"

    def resolved_blob_url(self) -> str:
        return self.blob_url or str(self.home / "blobs")

    def resolved_events_url(self) -> str | None:
        """PHOTOGEN_EVENTS_URL, else the broker's Redis in Celery mode, else None (events stay in process)."""
        if self.events_url is not None:
            return self.events_url
        if self.queue == "celery" and self.broker_url and self.broker_url.startswith(("redis://", "rediss://")):
            return self.broker_url
        return None

    def resolved_device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def resolved_dtype(self) -> str:
        if self.dtype != "auto":
            return self.dtype
        return "float16" if self.resolved_device() == "cuda" else "float32"
