"""The job state machine: queued -> running -> succeeded | failed | canceled."""

from __future__ import annotations

from enum import Enum

from photogen.domain.errors import PhotogenError


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
