"""The one place that builds concrete adapters from Settings and wires the services together."""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from photogen.config import Settings
from photogen.domain.errors import PhotogenError
from photogen.engines.cache import ModelCache
from photogen.intake.memory import DECODE_SLOTS, map_large_allocations_apart
from photogen.observability.metrics import RUN_METRICS
from photogen.queue.embedded import EmbeddedWorker
from photogen.queue.port import DatabaseQueue
from photogen.services.assets import AssetService
from photogen.services.avatars import AvatarService
from photogen.services.catalogue import ModelCatalogue
from photogen.services.events import InProcessEvents, JobEvents, job_labels
from photogen.services.identities import IdentityService
from photogen.services.jobs import JobService
from photogen.services.keys import AuthPolicy, KeyService
from photogen.services.limits import OwnerLimits
from photogen.services.privacy import PrivacyService
from photogen.services.recipes import RecipeService
from photogen.services.submission import GenerationSubmissions
from photogen.services.tombstones import sweep_tombstones
from photogen.services.uploads import UploadService
from photogen.services.work import WorkLimit
from photogen.store.blobs import BlobStore, blob_store_for, sweep_leftovers
from photogen.store.database import Database, migrate, redacted_url

WEBHOOK_SHUTDOWN_WAIT_S = 5.0


@dataclass
class Container:
    settings: Settings
    db: Database
    blobs: BlobStore
    models: ModelCache
    events: JobEvents
    keys: KeyService
    uploads: UploadService
    jobs: JobService
    recipes: RecipeService
    privacy: PrivacyService
    worker: EmbeddedWorker | None
    webhooks: Any = None
    catalogue: ModelCatalogue | None = None
    limits: OwnerLimits | None = None
    queue: DatabaseQueue | None = None
    assets: AssetService | None = None
    identities: IdentityService | None = None
    submissions: GenerationSubmissions | None = None
    avatars: AvatarService | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def label_job_logs(self) -> None:
        """Job state log lines name the job's kind and owner (read from its row), unless labels are set already."""
        if self.events.labels is None:
            self.events.labels = job_labels(self.db)

    def start(self) -> None:
        sweep_tombstones(self.db, self.blobs)
        sweep_leftovers(self.blobs)
        if self.worker is not None:
            self.worker.start()
        if self.settings.queue == "celery":  # the outbox and retention are periodic Celery tasks (photogen beat)
            return
        if self.webhooks is not None:
            self.webhooks.start()
        self._stop_purge = threading.Event()
        self._purger = threading.Thread(target=self._purge_loop, name="photogen-retention", daemon=True)
        self._purger.start()

    def _purge_loop(self) -> None:
        """Retention runs in the server on a schedule, first right after start."""
        while not self._stop_purge.is_set():
            try:
                self.privacy.purge()
            except Exception:  # a failed round is retried next interval; the log has it
                logging.getLogger("photogen.retention").exception("retention purge failed")
            self._stop_purge.wait(self.settings.purge_interval_s)

    def close(self) -> None:
        if getattr(self, "_stop_purge", None) is not None:
            self._stop_purge.set()
            self._purger.join(timeout=30)
        if self.worker is not None:
            self.worker.stop()
        if self.webhooks is not None:
            self.webhooks.close(timeout=WEBHOOK_SHUTDOWN_WAIT_S)  # what is not sent stays in the outbox
        self.events.close()
        self.db.dispose()


def webhook_secret(settings: Settings) -> bytes:
    """The configured secret, or one made once and kept (mode 600) in the home folder."""
    if settings.webhook_secret:
        return settings.webhook_secret.encode()
    path = settings.home / "webhook-secret"
    if not path.is_file():
        settings.home.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def check_queue_settings(settings: Settings) -> None:
    """Celery mode needs a broker and a database every host shares; refuse to start otherwise."""
    if settings.queue != "celery":
        return
    if not settings.broker_url:
        raise PhotogenError("PHOTOGEN_QUEUE=celery needs a broker", code="invalid_settings",
                            hint="set PHOTOGEN_BROKER_URL=redis://host:6379/0, or PHOTOGEN_QUEUE=embedded")
    if settings.resolved_database_url().startswith("sqlite"):
        raise PhotogenError("PHOTOGEN_QUEUE=celery cannot use SQLite: workers on other hosts must share the "
                            "database that holds the jobs", code="invalid_settings",
                            hint="set PHOTOGEN_DATABASE_URL=postgresql+psycopg://user@host/db, "
                            "or PHOTOGEN_QUEUE=embedded for one machine")
    if settings.resolved_events_url() is None:
        raise PhotogenError("PHOTOGEN_QUEUE=celery with a broker that is not Redis needs a Redis for live events: "
                            "without it progress and cancels never leave the process that makes them",
                            code="invalid_settings",
                            hint="set PHOTOGEN_EVENTS_URL=redis://host:6379/0 on every API node and worker")


def build_container(settings: Settings, *, worker: bool | None = None) -> Container:
    """The services for these settings. In Celery mode `worker` defaults to off (workers are `photogen worker`
    processes) and each submission is sent to the broker."""
    check_queue_settings(settings)
    settings.home.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url())
    migrate(db.engine)
    blobs = blob_store_for(settings.resolved_blob_url())
    catalogue = ModelCatalogue(settings)
    # Keys are catalogue ids as they are: requests never carry paths, so nothing is resolved on disk.
    models = ModelCache(catalogue.load, key=str, max_models=settings.max_loaded_models,
                        max_bytes=settings.max_model_memory_mb << 20)
    events = events_for(settings)
    DECODE_SLOTS.set_limit(settings.max_concurrent_decodes)  # memory is per process, so is this limit
    map_large_allocations_apart()  # freed decode buffers go back to the system instead of staying in arenas
    uploads = UploadService(db, blobs, max_pixels=settings.max_pixels, max_bytes=settings.max_upload_bytes,
                            strip_originals=settings.original_exif == "strip",
                            max_decoded_bytes=settings.max_decoded_bytes)
    privacy = PrivacyService(db, blobs, uploads, originals_days=settings.retention_originals_days,
                             outputs_days=settings.retention_outputs_days, max_decoded_bytes=settings.max_decoded_bytes,
                             original_exif=settings.original_exif)
    work_limit = WorkLimit(settings.max_work_per_request,
                           native_pixels=lambda spec: _native_pixels_if_loaded(models, spec))
    limits = OwnerLimits(db, max_active_jobs=settings.max_active_jobs_per_owner,
                         uploads_per_minute=settings.uploads_per_minute,
                         max_stored_bytes=settings.max_stored_bytes_per_owner,
                         storage_retry_s=int(settings.purge_interval_s))
    jobs = JobService(db, uploads, events, work_limit, limits=limits)

    def stop_deleted_jobs(job_ids: list[str]) -> None:  # a deleted upload's running job stops within a step
        for job_id in job_ids:
            events.request_cancel(job_id)

    uploads.on_jobs_deleted = stop_deleted_jobs
    assets = AssetService(db, blobs)
    assets.on_jobs_deleted = stop_deleted_jobs
    jobs.admit = _job_admission(catalogue, limits)
    jobs.admit_model = _job_admission(catalogue, None)
    jobs.check_controls = catalogue.check_controls
    webhooks = _webhook_sender(settings, db)
    queue = DatabaseQueue(db, events, max_attempts=settings.job_max_attempts, lease_s=settings.lease_s,
                          heartbeat_s=settings.heartbeat_s)
    jobs.on_submit = queue.notify
    if settings.queue == "celery":
        from photogen.queue.celery_app import CelerySubmissions, celery_app

        jobs.on_submit = CelerySubmissions(celery_app(settings))
    run_worker = (settings.worker_enabled and settings.queue == "embedded") if worker is None else worker
    ended_hooks: list = []  # told of each job the worker ended, once the services below exist
    embedded = None
    if run_worker:
        embedded = EmbeddedWorker(
            db, blobs, models, events,
            max_attempts=settings.job_max_attempts,
            max_batch_images=settings.max_batch_images,
            max_pixels=settings.max_pixels,
            max_decoded_bytes=settings.max_decoded_bytes,
            on_finished=_on_finished(webhooks, ended_hooks),
            batch_window_s=settings.batch_window_ms / 1000.0,
            job_timeout_s=settings.job_timeout_s,
            identity_threshold=settings.identity_threshold,
            work_limit=work_limit,
            signer=_output_signer(settings),
            queue=queue,
        )
    recipes = RecipeService(db)
    recipes.seed_builtins()
    identities = IdentityService(db, uploads)
    submissions = GenerationSubmissions(catalogue, recipes, jobs, uploads, limits, url_allowlist=settings.url_allowlist,
                                        identities=identities)
    avatars = AvatarService(db, blobs, jobs, submissions, identity_threshold=settings.identity_threshold)
    ended_hooks.append(avatars.job_ended)  # an avatar set moves on as its runs end, not when it is read
    return Container(settings, db, blobs, models, events, KeyService(db), uploads, jobs, recipes, privacy, embedded,
                     webhooks, catalogue=catalogue, limits=limits, queue=queue, assets=assets,
                     identities=identities, submissions=submissions, avatars=avatars)


def key_service(settings: Settings) -> KeyService:
    """API keys alone, for the key commands: the database at its newest schema, without the rest of a container."""
    settings.home.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url())
    migrate(db.engine)
    return KeyService(db)


def database_label(settings: Settings) -> str:
    """The database URL as it may be printed: without its password."""
    return redacted_url(settings.resolved_database_url())


def events_for(settings: Settings) -> JobEvents:
    """Live events in this process, or through Redis when PHOTOGEN_EVENTS_URL names it (redis-py loads only then)."""
    url = settings.resolved_events_url()
    if url is None:
        return InProcessEvents()
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise PhotogenError("PHOTOGEN_EVENTS_URL is not a Redis URL", code="invalid_settings",
                            hint="use redis://host:6379/0 (rediss:// with TLS), or unset it to keep events in process")
    try:
        from photogen.services.redis_events import RedisEvents
    except ImportError:
        raise PhotogenError("PHOTOGEN_EVENTS_URL needs the redis package", code="invalid_settings",
                            hint="pip install 'photogen[redis]'") from None

    events = RedisEvents(url)
    try:
        events.check()
    except PhotogenError:
        events.close()
        raise
    return events


def _job_admission(catalogue: ModelCatalogue, limits: OwnerLimits | None):
    """What every new job passes before anything is stored for it: a catalogue model and (with `limits`) the
    owner's limits. The active-jobs count is checked again, under a lock, where JobService inserts the job;
    without `limits` (nothing is stored before the insert) all the owner's limits are checked there alone."""

    def admit(owner: str, request: dict[str, Any]) -> None:
        if request.get("model") is not None:
            catalogue.check(request["model"])
        if limits is not None:
            limits.admit_job(owner)

    return admit


def _native_pixels_if_loaded(models: ModelCache, model_id: str) -> int | None:
    """The model's native pixels when it is loaded already (the cache is keyed by catalogue id); else None."""
    return models.get(model_id).info.native_pixels if model_id in models.loaded() else None


def _webhook_sender(settings: Settings, db: Database):
    """The durable outbox; its delivery thread starts with the container, except in the Celery mode, where
    `photogen beat` sends the delivery task to the workers."""
    from photogen.net.webhooks import WebhookSender
    from photogen.services.webhook_outbox import WebhookOutboxService

    sender = WebhookSender(webhook_secret(settings), allow=settings.url_allowlist)
    return WebhookOutboxService(db, sender, delays=settings.webhook_retry_delays_s, poll_s=settings.webhook_poll_s)


def _output_signer(settings: Settings):
    if not settings.content_credentials:
        return None
    from photogen.provenance.outputs import OutputSigner, signing_identity

    return OutputSigner(signing_identity(settings.signing_cert, settings.signing_key, settings.home))


def _on_finished(webhooks, hooks=()):
    def notify(job, outputs: int) -> None:
        for hook in hooks:
            try:
                hook(job)
            except Exception:  # the job's own end stands; what the hook would do is done when it is next read
                logging.getLogger("photogen.worker").exception("after the end of job %s", job.id)
        try:
            RUN_METRICS.observe_job_end(job.state, created_at=job.created_at, started_at=job.started_at,
                                        finished_at=job.finished_at, error_code=job.error_code, outputs=outputs)
        except Exception:  # a metric is never worth a job's end; the log has it
            logging.getLogger("photogen.metrics").exception("could not observe the end of job %s", job.id)
        if webhooks is None:
            return
        try:
            webhooks.enqueue_job_end(job)
        except Exception:  # the job's own end stands; the next start writes the event it missed
            logging.getLogger("photogen.webhooks").exception("could not keep the webhook event of job %s", job.id)

    return notify


def refuse_an_open_server_beyond_loopback(settings: Settings) -> None:
    """AuthRefused for a server that listens beyond this machine (the caller knows) without requiring API keys:
    the check create_app makes, made first by `photogen serve` so that a refusal does not wait for torch and
    diffusers to load."""
    settings.home.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url())
    try:
        migrate(db.engine)
        AuthPolicy(KeyService(db), settings.auth, listens_beyond_loopback=True).check_start()
    finally:
        db.dispose()
