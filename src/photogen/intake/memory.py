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
    trim = _libc_function("malloc_trim")
    return bool(trim(0)) if trim is not None else False


@functools.cache
def _libc_function(name: str):
    library = ctypes.util.find_library("c")
    if not library:
        return None
    try:
        return getattr(ctypes.CDLL(library), name)
    except (OSError, AttributeError):
        return None


# glibc's mallopt parameter for the size from which allocations get their own mapping (malloc.h).
_M_MMAP_THRESHOLD = -3
LARGE_ALLOCATION_BYTES = 8 * 1024 * 1024


def map_large_allocations_apart(threshold: int = LARGE_ALLOCATION_BYTES) -> bool:
    """Give every allocation of at least `threshold` bytes its own memory mapping, returned to the system when
    freed; False where glibc's mallopt is unavailable.

    glibc raises this threshold by itself after the first large free (up to 32 MB), after which decode
    buffers (Pillow's 16 MB blocks, numpy arrays) land in per-thread arenas that keep them: concurrent
    uploads then leave the server at its peak. Fixing it at 8 MB keeps the peak from sticking (measured in
    bench/upload_memory.py). Process-wide; the server calls it once at start.
    """
    mallopt = _libc_function("mallopt")
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold)) if mallopt is not None else False
