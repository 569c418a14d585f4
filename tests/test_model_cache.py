"""The model cache keeps at most N models and a memory budget, dropping the least recently used."""

from __future__ import annotations

import threading

from photogen.engines.cache import ModelCache, model_bytes


class FakeModel:
    """Stands in for a generator: a name and a weight size (the cache only counts and measures)."""

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size
        self.released = False

    def weights_bytes(self) -> int:
        return self.size


def _cache(sizes: dict[str, int], **limits) -> tuple[ModelCache, list[str]]:
    loaded: list[str] = []

    def load(name: str) -> FakeModel:
        loaded.append(name)
        return FakeModel(name, sizes[name])

    return ModelCache(load, key=str, **limits), loaded


def test_the_least_recently_used_model_is_dropped_past_the_count():
    cache, loaded = _cache({"a": 1, "b": 1, "c": 1}, max_models=2)
    cache.get("a")
    cache.get("b")
    cache.get("a")  # a is now the most recently used
    cache.get("c")
    assert cache.loaded() == ["a", "c"]
    assert cache.evictions == 1
    cache.get("b")  # loaded again after it was dropped
    assert loaded == ["a", "b", "c", "b"] and cache.loaded() == ["c", "b"]


def test_models_are_dropped_past_the_memory_budget_but_the_newest_stays():
    cache, _ = _cache({"small": 30, "mid": 50, "big": 200}, max_models=10, max_bytes=100)
    cache.get("small")
    cache.get("mid")
    assert cache.loaded() == ["small", "mid"] and cache.memory_bytes() == 80
    cache.get("small")
    cache.get("big")  # over budget alone: everything else goes, it stays (it is the one being asked for)
    assert cache.loaded() == ["big"] and cache.memory_bytes() == 200
    cache.get("mid")
    assert cache.loaded() == ["mid"]


def test_a_model_in_use_stays_valid_after_it_is_dropped():
    cache, _ = _cache({"a": 1, "b": 1}, max_models=1)
    in_use = cache.get("a")
    running = threading.Event()
    finished = threading.Event()
    seen = []

    def generation() -> None:
        running.wait(timeout=30)
        seen.append(in_use.name)  # still the same, whole object
        finished.set()

    worker = threading.Thread(target=generation)
    worker.start()
    other = cache.get("b")  # drops a from the cache while the "generation" holds it
    running.set()
    assert finished.wait(timeout=30)
    worker.join(timeout=30)
    assert seen == ["a"] and cache.loaded() == ["b"] and other.name == "b"


def test_the_weights_of_a_real_model_are_measured(tiny):
    import torch

    size = model_bytes(tiny)
    # The tiny SD 1.x has about 2.5M float32 parameters: roughly 10 MB.
    assert 4_000_000 < size < 40_000_000
    assert size % torch.tensor([], dtype=torch.float32).element_size() == 0


def test_a_long_load_holds_up_neither_the_listing_nor_a_loaded_model():
    """A worker's heartbeat reads the listing: it must not wait for a load, or the worker's leases run out."""
    release, started = threading.Event(), threading.Event()
    loaded: list[str] = []

    def load(name: str) -> FakeModel:
        if name == "slow":
            started.set()
            assert release.wait(timeout=30)
        loaded.append(name)
        return FakeModel(name, 1)

    cache = ModelCache(load, key=str, max_models=3)
    cache.get("fast")
    results: dict[str, str] = {}
    waiters = [threading.Thread(target=lambda: results.setdefault("first", cache.get("slow").name)),
               threading.Thread(target=lambda: results.setdefault("second", cache.get("slow").name))]
    waiters[0].start()
    assert started.wait(timeout=30)
    waiters[1].start()  # asks for the model being loaded: waits for that one load
    answered = threading.Event()

    def meanwhile() -> None:
        results["listing"] = ",".join(cache.loaded())
        results["fast"] = cache.get("fast").name
        answered.set()

    threading.Thread(target=meanwhile).start()
    assert answered.wait(timeout=30)  # while "slow" is still loading
    assert results == {"listing": "fast", "fast": "fast"} and not release.is_set()
    release.set()
    for waiter in waiters:
        waiter.join(timeout=30)
    assert results["first"] == results["second"] == "slow"
    assert loaded == ["fast", "slow"] and cache.loaded() == ["fast", "slow"] and cache.loads == 2
