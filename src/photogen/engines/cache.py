"""Loaded models, each loaded once. Loading happens under a lock, so concurrent first requests
for the same model wait for one load instead of starting two."""

from __future__ import annotations

import threading
from collections.abc import Callable

from photogen.engines.base import Generator
from photogen.engines.loader import cache_key


class ModelCache:
    def __init__(self, load: Callable[[str], Generator]) -> None:
        self._load = load
        self._models: dict[str, Generator] = {}
        self._lock = threading.Lock()
        self.loads = 0  # how many times a model was actually loaded

    def get(self, spec: str) -> Generator:
        key = cache_key(spec)
        with self._lock:
            model = self._models.get(key)
            if model is None:
                model = self._load(spec)
                self._models[key] = model
                self.loads += 1
            return model

    def loaded(self) -> list[str]:
        with self._lock:
            return list(self._models)
