"""Recipes: named, versioned prompt templates. A version never changes; editing makes the next one."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from photogen.domain.errors import InvalidRequest

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
REF = re.compile(r"^(?P<name>[a-z0-9][a-z0-9-]{0,62})(?:@(?P<version>\d+))?$")
PLACEHOLDER = "{details}"


class RecipeFields(BaseModel):
    """What a recipe version holds. `prompt` may contain {details}, filled with the user's own words."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1, max_length=200, description="Human name of the recipe.")
    prompt: str = Field(min_length=1, max_length=2000, description="Prompt template; {details} takes the user's words.")
    negative_prompt: str = Field(default="", max_length=2000, description="What outputs should avoid.")
    image_strength: float = Field(default=0.5, ge=0.0, le=1.0, description="Default image strength.")
    strength_range: tuple[float, float] = Field(default=(0.3, 0.7), description="Recommended image strength range.")
    crop_preset: str | None = Field(default=None, max_length=100, description="Aspect/crop preset the recipe is made for.")
    guidance: float | None = Field(default=None, ge=0.0, le=30.0, description="Guidance scale, if the recipe sets one.")
    notes: str = Field(default="", max_length=4000, description="When to use it and what to watch for.")
    instruction: str | None = Field(
        default=None, max_length=2000,
        description="The same recipe for instruction-edit models (whose prompt says what to change): a template "
        "used instead of `prompt` on those models; {details} takes the user's words. None: `prompt` on every model.")
    angle: int | None = Field(default=None, ge=-90, le=90,
                              description="A head turn (yaw degrees) the recipe asks for, on models with an angle "
                              "control; a request's own angle wins.")

    @field_validator("strength_range")
    @classmethod
    def _check_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError("strength_range is (low, high) with 0 <= low <= high <= 1")
        return value

    @model_validator(mode="after")
    def _strength_in_range(self) -> RecipeFields:
        low, high = self.strength_range
        if not low <= self.image_strength <= high:
            raise ValueError(f"image_strength {self.image_strength} is outside its recommended range {low}..{high}")
        return self


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise InvalidRequest(
            f"recipe name {name!r} is not valid", hint="use lower-case letters, digits and dashes, e.g. my-headshot"
        )
    return name


def parse_ref(ref: str) -> tuple[str, int | None]:
    """'headshot@2' -> ('headshot', 2); 'headshot' -> ('headshot', None) meaning the newest."""
    match = REF.match(ref.strip())
    if not match:
        raise InvalidRequest(f"recipe {ref!r} is not of the form name or name@version", hint="e.g. headshot or headshot@2")
    version = match.group("version")
    return match.group("name"), int(version) if version else None


def fill_prompt(template: str, details: str) -> str:
    """The user's words go where {details} stands, or after the template when it has no such place."""
    details = details.strip()
    if PLACEHOLDER in template:
        return template.replace(PLACEHOLDER, details).replace(" ,", ",").strip(" ,")
    return f"{template}, {details}" if details else template


def fill_instruction(template: str, details: str) -> str:
    """An instruction template's {details} (written straight after a word, "...of the same person{details}: ...")
    becomes the user's words in brackets, or nothing; a template without the place gets them as a last sentence."""
    details = details.strip()
    if PLACEHOLDER in template:
        return template.replace(PLACEHOLDER, f" ({details})" if details else "")
    return f"{template} {details}" if details else template


def request_fields(recipe: RecipeFields, ref: str, given: dict[str, Any], *,
                   instruction: bool = False) -> dict[str, Any]:
    """Generation fields from a recipe; whatever the user set explicitly (`given`) wins, except the prompt,
    which fills the template: the recipe's instruction variant for an instruction-edit model (`instruction`)
    where it has one."""
    fields: dict[str, Any] = {
        "negative_prompt": recipe.negative_prompt,
        "image_strength": recipe.image_strength,
        "crop_preset": recipe.crop_preset,
    }
    if recipe.guidance is not None:
        fields["guidance"] = recipe.guidance
    if recipe.angle is not None:
        fields["angle"] = recipe.angle
    fields.update({k: v for k, v in given.items() if k != "prompt"})
    if given.get("aspect_ratio"):  # the user's ratio replaces the recipe's preset
        fields["crop_preset"] = given.get("crop_preset")
    if instruction and recipe.instruction:
        fields["prompt"] = fill_instruction(recipe.instruction, given.get("prompt", ""))
    else:
        fields["prompt"] = fill_prompt(recipe.prompt, given.get("prompt", ""))
    fields["recipe"] = ref
    return fields


def diff(old: RecipeFields, new: RecipeFields) -> list[dict[str, Any]]:
    """Each field that differs between two versions, with both values."""
    a, b = old.model_dump(mode="json"), new.model_dump(mode="json")
    return [{"field": key, "from": a[key], "to": b[key]} for key in a if a[key] != b[key]]
