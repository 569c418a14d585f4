"""`photogen purge | export`: data housekeeping from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from photogen.cli.common import open_container


def purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would go.")] = False,
) -> None:
    """Apply the retention policies now: old uploads with all they made, old outputs; each deletion audited."""
    container = open_container()
    try:
        counts = container.privacy.purge(dry_run=dry_run, actor="photogen purge")
        outputs = _purge_cli_outputs(container.settings, dry_run)
    finally:
        container.close()
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

    container = open_container()
    try:
        path = container.privacy.export(owner)
    finally:
        container.close()
    shutil.move(path, out)
    typer.echo(f"exported {owner}'s data to {out}")
