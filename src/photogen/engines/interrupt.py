"""Stopping a running batch from inside the model: a time limit, and a generator that passes its check on.

An `InterruptCheck` (engines.base) is called before each UNet and VAE block and between steps; these are the
checks the worker and the command line build from a job's deadline and its cancel flag.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from PIL import Image

from photogen.domain.errors import PhotogenError
from photogen.engines.base import Capabilities, Generator, InterruptCheck, ModelInfo, PreparedRequest, StepCallback


class JobTimedOut(PhotogenError):
    code = "job_timeout"


class Deadline:
    """Raises JobTimedOut once `limit_s` seconds have passed since it was made; None means no limit."""

    def __init__(self, limit_s: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit_s = limit_s
        self._clock = clock
        self._ends = None if limit_s is None else clock() + limit_s

    def __call__(self) -> None:
        if self._ends is not None and self._clock() > self._ends:
            raise JobTimedOut(
                f"the job ran past its time limit of {self.limit_s:g} s and was stopped",
                hint="ask for fewer images, fewer steps or a smaller size, or raise PHOTOGEN_JOB_TIMEOUT_S",
            )


def all_of(*checks: InterruptCheck | None) -> InterruptCheck | None:
    """One check that runs each given one in turn (None when none is given)."""
    given = [check for check in checks if check is not None]
    if not given:
        return None

    def check() -> None:
        for one in given:
            one()

    return check


class InterruptibleGenerator:
    """A loaded model whose every batch also gets `interrupt`: for code that is handed the model and runs it
    itself, such as the tiled upscale, which then stops within a tile when the job is canceled or late."""

    def __init__(self, generator: Generator, interrupt: InterruptCheck) -> None:
        self._generator = generator
        self._interrupt = interrupt

    @property
    def info(self) -> ModelInfo:
        return self._generator.info

    @property
    def capabilities(self) -> Capabilities:
        return self._generator.capabilities

    def native_size(self, ratio: tuple[float, float]) -> tuple[int, int]:
        return self._generator.native_size(ratio)

    def generate(
        self,
        batch: Sequence[PreparedRequest],
        on_step: StepCallback | None = None,
        interrupt: InterruptCheck | None = None,
    ) -> list[list[Image.Image]]:
        return self._generator.generate(batch, on_step, all_of(self._interrupt, interrupt))
