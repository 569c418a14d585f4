"""Loaded models, each loaded once, the least recently used dropped past a count or a memory budget.

Loading happens under a lock of its own, so concurrent first requests for the same model wait for one load
instead of starting two, while everything else (a model already loaded, the listing that worker heartbeats and
/v1/health read) answers at once: a heartbeat that waited for a long load would let the worker's leases run out.
Dropping a model only drops the cache's reference: a generation holding the model keeps a valid object until it
lets go, and the memory returns once nobody holds it.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from photogen.engines.base import Generator
from photogen.engines.loader import cache_key

log = logging.getLogger("photogen.models")


def model_bytes(model: Any) -> int:
    """A loaded model's weights in bytes, where the generator can tell (diffusers generators can)."""
    weights_bytes = getattr(model, "weights_bytes", None)
    return int(weights_bytes()) if callable(weights_bytes) else 0


def _release_accelerator_memory() -> None:
    """Hand freed CUDA blocks back to the driver, where torch has CUDA in use."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


class ModelCache:
    def __init__(
        self,
        load: Callable[[str], Generator],
        *,
        key: Callable[[str], str] = cache_key,
        max_models: int | None = None,
        max_bytes: int | None = None,
        measure: Callable[[Generator], int] = model_bytes,
    ) -> None:
        self._load = load
        self._key = key
        self._max_models = max_models
        self._max_bytes = max_bytes
        self._measure = measure
        self._models: OrderedDict[str, tuple[Generator, int]] = OrderedDict()  # oldest use first
        self._lock = threading.Lock()  # the entries: held for moments only
        self._loading = threading.Lock()  # one load at a time
        self.loads = 0  # how many times a model was actually loaded
        self.evictions = 0

    def get(self, spec: str) -> Generator:
        key = self._key(spec)
        if (model := self._loaded(key)) is not None:
            return model
        with self._loading:
            if (model := self._loaded(key)) is not None:  # loaded while this call waited
                return model
            if self._max_models is not None:  # room first, so two models never exceed the count at once
                with self._lock:
                    self._evict_while(lambda: len(self._models) >= self._max_models)
            model = self._load(spec)
            size = self._measure(model)
            with self._lock:
                self._models[key] = (model, size)
                self.loads += 1
                if self._max_bytes is not None:  # the newest stays even when it alone is over the budget
                    self._evict_while(lambda: len(self._models) > 1 and self.memory_bytes() > self._max_bytes)
            return model

    def _loaded(self, key: str) -> Generator | None:
        """The model under `key`, now the most recently used, or None."""
        with self._lock:
            entry = self._models.get(key)
            if entry is None:
                return None
            self._models.move_to_end(key)
            return entry[0]

    def _evict_while(self, over: Callable[[], bool]) -> None:
        dropped = False
        while self._models and over():
            key, entry = self._models.popitem(last=False)
            size = entry[1]
            del entry  # a generation still holding the model keeps it; otherwise it is freed now
            log.info("dropped model %s from the cache (%d MiB)", key, size >> 20)
            self.evictions += 1
            dropped = True
        if dropped:
            _release_accelerator_memory()

    def memory_bytes(self) -> int:
        return sum(size for _model, size in self._models.values())

    def is_loaded(self, spec: str) -> bool:
        """Whether `spec` is loaded now (a get would not load it)."""
        key = self._key(spec)
        with self._lock:
            return key in self._models

    def loaded(self) -> list[str]:
        """Keys of the loaded models, least recently used first."""
        with self._lock:
            return list(self._models)
