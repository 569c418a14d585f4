"""`photogen recipes list | show | diff`: versioned prompt templates from the command line."""

from __future__ import annotations

from typing import Annotated

import typer

from photogen.cli.common import fail, open_container

recipes_app = typer.Typer(help="List, show and compare recipes (versioned prompt templates).", no_args_is_help=True)


@recipes_app.command("list")
def recipes_list(owner: Annotated[str, typer.Option(help="Whose recipes, besides the built-in ones.")] = "local") -> None:
    """The newest version of each recipe."""
    container = open_container()
    for recipe in container.recipes.list(owner):
        low, high = recipe.fields.strength_range
        typer.echo(f"{recipe.ref:28} {recipe.fields.title:34} strength {recipe.fields.image_strength} ({low}-{high})"
                   + ("  [built-in]" if recipe.builtin else ""))


@recipes_app.command("show")
def recipes_show(
    name: Annotated[str, typer.Argument(help="name or name@version")],
    owner: Annotated[str, typer.Option(help="Whose recipe.")] = "local",
) -> None:
    """Every field of a recipe version."""
    from photogen.domain.errors import PhotogenError

    try:
        recipe = open_container().recipes.resolve(owner, name)
    except PhotogenError as exc:
        raise fail(exc.code, exc.message, exc.hint) from None
    typer.echo(recipe.ref)
    for key, value in recipe.fields.model_dump().items():
        typer.echo(f"  {key}: {value}")


@recipes_app.command("diff")
def recipes_diff(
    name: Annotated[str, typer.Argument(help="Recipe name.")],
    old: Annotated[int, typer.Argument(help="Older version.")],
    new: Annotated[int, typer.Argument(help="Newer version.")],
    owner: Annotated[str, typer.Option(help="Whose recipe.")] = "local",
) -> None:
    """What changed between two versions."""
    from photogen.domain.errors import PhotogenError

    try:
        changes = open_container().recipes.diff(owner, name, old, new)
    except PhotogenError as exc:
        raise fail(exc.code, exc.message, exc.hint) from None
    for change in changes:
        typer.echo(f"{change['field']}:\n  - {change['from']}\n  + {change['to']}")
    if not changes:
        typer.echo("no differences")
