"""`photogen purge | export | recipes`: data housekeeping from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from photogen.cli_errors import fail, load_settings


def _container():
    from photogen.container import build_container

    return build_container(load_settings(), worker=False)


def purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would go.")] = False,
) -> None:
    """Apply the retention policies now: old uploads with all they made, old outputs; each deletion audited."""
    container = _container()
    try:
        counts = container.privacy.purge(dry_run=dry_run, actor="photogen purge")
        outputs = _purge_cli_outputs(container.settings, dry_run)
    finally:
        container.db.dispose()
    verb = "would remove" if dry_run else "removed"
    typer.echo(f"{verb}: {counts['uploads']} upload(s), {counts['jobs']} job(s), {counts['assets']} asset(s), "
               f"{counts['blobs']} blob(s) from the store; {outputs} CLI output(s) with their sidecars")


def _purge_cli_outputs(settings, dry_run: bool) -> int:
    """The CLI's own outputs folder follows the default outputs retention."""
    import time

    days = settings.retention_outputs_days
    if days is None or not settings.outputs_dir.is_dir():
        return 0
    cutoff = time.time() - days * 86400
    old = [p for p in settings.outputs_dir.glob("*.png") if p.stat().st_mtime < cutoff]
    if not dry_run:
        for png in old:
            png.unlink(missing_ok=True)
            png.with_suffix(".json").unlink(missing_ok=True)
    return len(old)


def export(
    owner: Annotated[str, typer.Option(help="Whose data; 'local' when the server runs without keys.")] = "local",
    out: Annotated[Path, typer.Option(help="Where to write the zip.")] = Path("photogen-export.zip"),
) -> None:
    """Write a zip of everything an owner has: uploads (GPS stripped), outputs and metadata."""
    import shutil

    container = _container()
    try:
        path = container.privacy.export(owner)
    finally:
        container.db.dispose()
    shutil.move(path, out)
    typer.echo(f"exported {owner}'s data to {out}")


recipes_app = typer.Typer(help="List, show and compare recipes (versioned prompt templates).", no_args_is_help=True)


@recipes_app.command("list")
def recipes_list(owner: Annotated[str, typer.Option(help="Whose recipes, besides the built-in ones.")] = "local") -> None:
    """The newest version of each recipe."""
    container = _container()
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
        recipe = _container().recipes.resolve(owner, name)
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
        changes = _container().recipes.diff(owner, name, old, new)
    except PhotogenError as exc:
        raise fail(exc.code, exc.message, exc.hint) from None
    for change in changes:
        typer.echo(f"{change['field']}:\n  - {change['from']}\n  + {change['to']}")
    if not changes:
        typer.echo("no differences")


def register(app: typer.Typer, _optional: Optional[bool] = None) -> None:
    app.command()(purge)
    app.command()(export)
    app.add_typer(recipes_app, name="recipes")
