"""Recipes: list, read, save a new version, diff."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from photogen.api.deps import Owner, container_of
from photogen.api.errors import ERROR_RESPONSES
from photogen.api.schemas import (
    RecipeDiff,
    RecipeOut,
)
from photogen.domain.recipes import RecipeFields

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


# -- recipes -------------------------------------------------------------------------------------

def recipe_out(version) -> RecipeOut:
    return RecipeOut(**version.fields.model_dump(), name=version.name, version=version.version, ref=version.ref,
                     builtin=version.builtin)


@router.get("/recipes", response_model=list[RecipeOut], summary="Recipes you can use (newest version of each)")
def list_recipes(request: Request, owner: Owner) -> list[RecipeOut]:
    return [recipe_out(v) for v in container_of(request).recipes.list(owner)]


@router.get("/recipes/{name}", response_model=RecipeOut, summary="A recipe, newest or a given version")
def get_recipe(request: Request, owner: Owner, name: str,
               version: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="Version; omitted means the newest.")] = None) -> RecipeOut:
    return recipe_out(container_of(request).recipes.get(owner, name, version))


@router.get("/recipes/{name}/versions", response_model=list[RecipeOut], summary="Every version of a recipe")
def list_recipe_versions(request: Request, owner: Owner, name: str) -> list[RecipeOut]:
    return [recipe_out(v) for v in container_of(request).recipes.versions(owner, name)]


@router.put("/recipes/{name}", status_code=201, response_model=RecipeOut,
            summary="Save a recipe: the first version, or the next one (versions never change)")
def save_recipe(request: Request, owner: Owner, name: str, body: RecipeFields) -> RecipeOut:
    return recipe_out(container_of(request).recipes.save(owner, name, body))


@router.get("/recipes/{name}/diff", response_model=RecipeDiff, summary="What changed between two versions")
def diff_recipe(request: Request, owner: Owner, name: str,
                from_version: Annotated[int, Query(alias="from", ge=1, le=2**31 - 1, description="Older version.")],
                to_version: Annotated[int, Query(alias="to", ge=1, le=2**31 - 1, description="Newer version.")]) -> RecipeDiff:
    changes = container_of(request).recipes.diff(owner, name, from_version, to_version)
    return RecipeDiff(name=name, from_version=from_version, to_version=to_version, changes=changes)
