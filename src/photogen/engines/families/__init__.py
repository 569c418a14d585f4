"""Model families, discovered at run time: each module here exposes `FAMILIES`, a list of families.

A new family is one new module in this package and, for its denoising loop, one generator module in
photogen.engines; nothing else changes. The steps, with flux2_klein.py / photogen.engines.flux2_klein as the
worked example (qwen_image_edit.py is another, with a processor of its own):

1. A family class with the ModelFamily protocol (photogen.engines.base): `name`; `claims_folder`, which
   recognises its pipeline in model_index.json (`_class_name`); `capabilities_of(folder)`, its Capabilities
   from the folder's configs alone (no weights: GET /v1/models and request validation read it before
   anything loads); `claims_checkpoint` and `load_single_file` for single files (refuse with
   UnsupportedModel where the format does not exist); `load_folder`, which loads the diffusers pipeline with
   `local_files_only=True`, places it with photogen.engines.placement.place_pipeline (device and the
   optimisations, per denoiser) and returns its generator with `info.native_pixels` set from the
   capabilities.
2. A generator: for transformer edit models subclass photogen.engines.diffusers_edit.EditGenerator and
   write `_run`, the stock pipeline's __call__ as a numbered script over EditRows (one row per output
   image, each with its own seed generator and guidance; per-request work such as prompt and image
   encoding done once per request). Each PreparedRequest brings its source crop (`image`) and its
   reference images (`references`, already sized by the runner to the capabilities' native pixels and
   size multiple). An adapter is an option of the family it adapts instead: the SD families take an
   IP-Adapter (`load_folder(..., ip_adapter=...)`, photogen.engines.ip_adapter), whose generator subclasses
   DiffusersImg2ImgGenerator and adds the references' embeddings in `_condition`.
3. A tiny random-weight configuration for tests: a config folder model_configs/tiny-<name>/ (model_index.json,
   each component's config, photogen_tiny.json with the seed and weight scales), its tokenizers built
   offline in photogen.engines.tiny_tokenizers (a processor too, where the pipeline has one), and its name in
   photogen.engines.tiny.TINY_EDIT_FAMILIES;
   `--model tiny-<name>` then builds it once and loads it like any folder.
4. Tests on the tiny model (see tests/engines/test_flux2_klein.py): it loads from a folder and from a hub
   id in the cache layout, the same seed gives the same pixels, changing a reference changes the output,
   and a batch gives each request's own pixels; and one request matches the stock pipeline.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from pathlib import Path
from typing import Any

from photogen.domain.errors import UnsupportedModel
from photogen.engines.base import ModelFamily


@functools.cache
def all_families() -> tuple[ModelFamily, ...]:
    found: list[ModelFamily] = []
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        found.extend(getattr(module, "FAMILIES", ()))
    return tuple(found)


def import_libraries() -> None:
    """Import what loading a model of any family imports. That takes seconds and holds the interpreter most of
    the time, so a worker's heartbeat thread may not run meanwhile: a worker does it before it takes jobs, not
    during the first load, while it holds their leases."""
    for family in all_families():
        family.import_libraries()


def family_named(name: str) -> ModelFamily:
    for family in all_families():
        if family.name == name:
            return family
    known = ", ".join(f.name for f in all_families())
    raise UnsupportedModel(f"no model family called {name!r}", hint=f"known families: {known}")


def family_for_folder(model_index: dict[str, Any], folder: Path) -> ModelFamily:
    for family in all_families():
        if family.claims_folder(model_index, folder):
            return family
    pipeline = model_index.get("_class_name", "unknown")
    raise UnsupportedModel(
        f"{folder.name} holds a {pipeline}, which photogen cannot run",
        hint=f"use a model of a family photogen runs: {', '.join(f.name for f in all_families())}",
    )


def family_for_checkpoint(shapes: dict[str, tuple[int, ...]]) -> ModelFamily:
    """The family that claims a single-file checkpoint, from its weight names and shapes.

    A family that recognises the file as something it cannot run raises UnsupportedModel with the
    reason; that reason is reported when no other family claims the file.
    """
    refusals: list[UnsupportedModel] = []
    for family in all_families():
        try:
            if family.claims_checkpoint(shapes):
                return family
        except UnsupportedModel as refusal:
            refusals.append(refusal)
    if refusals:
        raise refusals[0]
    raise UnsupportedModel(
        "the checkpoint's layout is not one photogen knows",
        hint="use an SD 1.x, SD 2.x or SDXL single-file checkpoint, or a diffusers folder",
    )
