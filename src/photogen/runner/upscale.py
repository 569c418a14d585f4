"""An upscale: a separate, recorded pass that enlarges one image; the new image names what it came from."""

from __future__ import annotations

from typing import Any

from PIL import Image

from photogen.engines.base import Generator, InterruptCheck
from photogen.engines.interrupt import InterruptibleGenerator
from photogen.outputs import SCHEMA, pixel_sha256
from photogen.runner.records import Output, RunResult, software_versions
from photogen.services.review import print_advice, upscale


def run_upscale(image: Image.Image, *, factor: int, method: str, model: Generator | None,
                interrupt: InterruptCheck | None, seed: int = 0, prompt: str = "",
                print_spec: dict[str, Any] | None = None, model_path: str | None = None,
                lineage: dict[str, Any] | None = None, parent_asset_id: str | None = None,
                seed_of_parent: int | None = None, on_progress=None) -> RunResult:
    """`lineage` is what the record says about the parent (its asset id and hash, or its file and record)."""
    # 1. the tiles pass the check to the model, so a cancel or the deadline stops a tile mid-way
    generator = InterruptibleGenerator(model, interrupt) if model is not None and interrupt is not None else model
    steps = [1]

    def progress(done: int, total: int) -> None:
        steps[0] = total
        if on_progress is not None:
            on_progress(done, total)

    # 2. enlarge
    result, how = upscale(image, factor=factor, method=method, generator=generator, seed=seed, prompt=prompt,
                          on_progress=progress, **({"model_path": model_path} if model_path else {}))
    # 3. the record: how, from what, and what it prints at
    record = upscale_record(image, result, how, factor, print_spec, lineage or {})
    output = Output("upscale", 0, seed_of_parent, result, record, parent_asset_id=parent_asset_id)
    return RunResult([output], steps=steps[0])


def upscale_record(image: Image.Image, result: Image.Image, how: dict[str, Any], factor: int,
                   print_spec: dict[str, Any] | None, lineage: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "kind": "upscale",
        "upscale": how,
        **lineage,
        "size": list(result.size),
        "print": print_advice(image.size, print_spec, factor),
        "pixel_sha256": pixel_sha256(result),
        "software": software_versions(),
    }
