"""Memory of decoding: how many decodes run at once, and handing freed memory back to the system."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading

DEFAULT_CONCURRENT_DECODES = 2


class DecodeSlots:
    """How many decodes may run at once in this process. Memory is per process, so the limit is too.

    A semaphore whose size can be set after creation (the server sets it from its settings at start).
    `high_water` is the most decodes seen running together and `started` how many began, which tests and
    benchmarks read.
    """

    def __init__(self, limit: int = DEFAULT_CONCURRENT_DECODES) -> None:
        self._limit = max(1, limit)
        self._running = 0
        self.high_water = 0
        self.started = 0
        self._changed = threading.Condition()

    @property
    def limit(self) -> int:
        return self._limit

    def set_limit(self, limit: int) -> None:
        with self._changed:
            self._limit = max(1, limit)
            self._changed.notify_all()

    def __enter__(self) -> DecodeSlots:
        with self._changed:
            self._changed.wait_for(lambda: self._running < self._limit)
            self._running += 1
            self.started += 1
            self.high_water = max(self.high_water, self._running)
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._changed:
            self._running -= 1
            self._changed.notify()


# The process-wide limit every decode shares unless it is given its own.
DECODE_SLOTS = DecodeSlots()


def release_freed_memory() -> bool:
    """Return freed heap memory to the operating system (glibc's malloc_trim); False where unavailable.

    Large decodes are freed to glibc's arenas, which keep them: without this the process stays at its peak.
    """
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False


@functools.cache
def _malloc_trim():
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
