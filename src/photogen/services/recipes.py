"""Recipes in the database: built-ins shipped with photogen, owners' own, every version kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from photogen.domain.builtin_recipes import BUILTIN_OWNER, BUILTIN_RECIPES
from photogen.domain.errors import InvalidRequest, PhotogenError
from photogen.domain.recipes import RecipeFields, check_name, diff, parse_ref, request_fields
from photogen.services.uploads import NotFound
from photogen.store.database import Database
from photogen.store.tables import Recipe


class RecipeNameTaken(PhotogenError):
    code = "recipe_name_taken"


@dataclass(frozen=True)
class RecipeVersion:
    name: str
    version: int
    owner: str
    fields: RecipeFields

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def builtin(self) -> bool:
        return self.owner == BUILTIN_OWNER


def _version(row: Recipe) -> RecipeVersion:
    return RecipeVersion(row.name, row.version, row.owner, RecipeFields.model_validate(row.fields))


class RecipeService:
    def __init__(self, db: Database) -> None:
        self._db = db

    def seed_builtins(self) -> int:
        """Record each shipped recipe; a changed one becomes its next version, old versions stay."""
        added = 0
        with self._db.session(write_lock=True) as session:
            for name, fields in BUILTIN_RECIPES.items():
                latest = session.scalar(
                    select(Recipe).where(Recipe.owner == BUILTIN_OWNER, Recipe.name == name)
                    .order_by(Recipe.version.desc()).limit(1)
                )
                if latest is not None and RecipeFields.model_validate(latest.fields) == fields:
                    continue
                version = latest.version + 1 if latest else 1
                session.add(Recipe(owner=BUILTIN_OWNER, name=name, version=version, fields=fields.model_dump(mode="json")))
                added += 1
        return added

    def _owner_of(self, session, owner: str, name: str) -> str | None:
        """Whose recipe a name means for this owner: their own, else the built-in one."""
        for candidate in (owner, BUILTIN_OWNER):
            if session.scalar(select(Recipe.id).where(Recipe.owner == candidate, Recipe.name == name).limit(1)):
                return candidate
        return None

    def get(self, owner: str, name: str, version: int | None = None) -> RecipeVersion:
        with self._db.session() as session:
            holder = self._owner_of(session, owner, name)
            query = select(Recipe).where(Recipe.owner == holder, Recipe.name == name)
            query = query.where(Recipe.version == version) if version else query.order_by(Recipe.version.desc())
            row = session.scalar(query.limit(1)) if holder else None
        if row is None:
            which = f"{name}@{version}" if version else name
            raise NotFound(f"no recipe {which}", hint="list recipes with GET /v1/recipes or `photogen recipes list`")
        return _version(row)

    def resolve(self, owner: str, ref: str) -> RecipeVersion:
        name, version = parse_ref(ref)
        return self.get(owner, name, version)

    def list(self, owner: str) -> list[RecipeVersion]:
        """The newest version of each recipe the owner can use; their own shadow nothing built in."""
        with self._db.session() as session:
            newest = (
                select(Recipe.owner, Recipe.name, func.max(Recipe.version).label("version"))
                .where(Recipe.owner.in_([owner, BUILTIN_OWNER]))
                .group_by(Recipe.owner, Recipe.name)
                .subquery()
            )
            rows = session.scalars(
                select(Recipe).join(newest, (Recipe.owner == newest.c.owner) & (Recipe.name == newest.c.name)
                                    & (Recipe.version == newest.c.version)).order_by(Recipe.owner, Recipe.name)
            ).all()
        return [_version(row) for row in rows]

    def versions(self, owner: str, name: str) -> list[RecipeVersion]:
        with self._db.session() as session:
            holder = self._owner_of(session, owner, name)
            rows = session.scalars(
                select(Recipe).where(Recipe.owner == holder, Recipe.name == name).order_by(Recipe.version)
            ).all() if holder else []
        if not rows:
            raise NotFound(f"no recipe {name}", hint="list recipes with GET /v1/recipes")
        return [_version(row) for row in rows]

    def save(self, owner: str, name: str, fields: RecipeFields) -> RecipeVersion:
        """Create the owner's recipe, or its next version. Built-in names stay the built-ins'."""
        check_name(name)
        if owner == BUILTIN_OWNER:
            raise InvalidRequest("'builtin' is reserved for the shipped recipes", hint="use another owner")
        if name in BUILTIN_RECIPES:
            raise RecipeNameTaken(
                f"{name} is a built-in recipe and cannot be edited",
                hint=f"save your version under a new name, e.g. my-{name}",
            )
        with self._db.session(write_lock=True) as session:
            latest = session.scalar(
                select(func.max(Recipe.version)).where(Recipe.owner == owner, Recipe.name == name)
            )
            row = Recipe(owner=owner, name=name, version=(latest or 0) + 1, fields=fields.model_dump(mode="json"))
            session.add(row)
        return _version(row)

    def diff(self, owner: str, name: str, old: int, new: int) -> list[dict[str, Any]]:
        return diff(self.get(owner, name, old).fields, self.get(owner, name, new).fields)

    def expand(self, owner: str, ref: str, given: dict[str, Any], *, instruction: bool = False) -> dict[str, Any]:
        """Request fields for a recipe reference and what the user set; records name@version. `instruction`: for an
        instruction-edit model (the recipe's instruction variant, where it has one)."""
        recipe = self.resolve(owner, ref)
        return request_fields(recipe.fields, recipe.ref, given, instruction=instruction)
