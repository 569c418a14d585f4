"""Model families, discovered at run time: each module here exposes `FAMILIES`, a list of families.

A new family (FLUX.1, Qwen-Image-Edit, ...) is one new module in this package; nothing else changes.
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
        f"{folder.name} holds a {pipeline}, which photogen cannot run as image-to-image",
        hint="use an SD 1.x, SD 2.x or SDXL model",
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
