"""Where a job's time went on the worker, phase by phase, in milliseconds.

The model's own time is the wall time of its pass less the time spent in the job's callbacks (progress events,
cancel checks, the time limit), which run between the model's blocks but are the server's cost, not the model's.
A batch shares one pass: each of its jobs reports the whole pass and the batch size.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

Callback = TypeVar("Callback", bound=Callable[..., Any])


class Timings:
    """Milliseconds per named phase, in the order they were measured, as `<phase>_ms`; and the batch size."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self.batch: int | None = None

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        key = f"{name}_ms"
        self.ms[key] = round(self.ms.get(key, 0.0) + 1000 * seconds, 3)

    def as_dict(self) -> dict[str, float]:
        return {**self.ms, "batch": self.batch} if self.batch is not None else dict(self.ms)


class PassClock:
    """The time of one model pass, split into the model's and its callbacks'."""

    def __init__(self) -> None:
        self.callbacks_s = 0.0
        self.model_s = 0.0

    def timed(self, callback: Callback | None) -> Callback | None:
        """`callback`, counting the time spent in it as the callbacks' (None stays None)."""
        if callback is None:
            return None

        def timed_callback(*args: Any) -> Any:
            start = time.perf_counter()
            try:
                return callback(*args)
            finally:
                self.callbacks_s += time.perf_counter() - start

        return timed_callback  # type: ignore[return-value]

    @contextmanager
    def measure(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.model_s = max(0.0, time.perf_counter() - start - self.callbacks_s)

    def record(self, timings: Timings, batch: int) -> None:
        timings.add("model", self.model_s)
        timings.add("callbacks", self.callbacks_s)
        timings.batch = batch
