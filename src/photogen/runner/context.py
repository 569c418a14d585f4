"""What a run needs: the models, the limits it runs under, and (on the server) the stores its results go to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from photogen.domain.params import GenerationRequest
from photogen.engines.cache import ModelCache
from photogen.intake.decode import DEFAULT_MAX_DECODED_BYTES, DecodedImage, decode_image
from photogen.services.work import WorkLimit

if TYPE_CHECKING:
    from photogen.services.events import JobEvents
    from photogen.store.blobs import BlobStore
    from photogen.store.database import Database


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class RunLimits:
    """The bounds every run is held to, on the server and on the command line alike."""

    max_pixels: int = 50_000_000
    max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES  # the same bound uploads were accepted under
    job_timeout_s: float | None = None
    work_limit: WorkLimit | None = None  # for requests submitted before their model was loaded
    identity_threshold: float = 0.363  # below it an output is flagged as not the person of its references


@dataclass
class RunContext:
    """One run's world. The command line leaves db, blobs and events empty: its results go to a folder."""

    models: ModelCache
    limits: RunLimits = field(default_factory=RunLimits)
    db: Database | None = None
    blobs: BlobStore | None = None
    events: JobEvents | None = None
    signer: Any = None  # photogen.provenance.outputs.OutputSigner: signs outputs with Content Credentials
    clock: Callable[[], datetime] = _now

    def decode(self, data: bytes) -> DecodedImage:
        """A stored source, decoded under the limits it was accepted under."""
        return decode_image(data, max_pixels=self.limits.max_pixels, max_bytes=2**40,
                            max_decoded_bytes=self.limits.max_decoded_bytes)

    def check_pixel_steps(self, work: int, what: str) -> None:
        """The work limit on work counted by the run itself (a restoration's damaged tiles)."""
        if self.limits.work_limit is not None:
            self.limits.work_limit.check(work, what)

    def check_work(self, requests: list[GenerationRequest], size: tuple[int, int]) -> None:
        """The work limit on the planned output size, for jobs submitted before their model was loaded."""
        if self.limits.work_limit is not None:
            self.limits.work_limit.check_generations(requests, size)
