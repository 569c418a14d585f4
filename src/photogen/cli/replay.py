"""`photogen replay`: make an output again from its embedded record and compare."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from photogen.cli.common import fail, load_settings, quiet_libraries


def replay(
    output: Annotated[Path, typer.Argument(help="A PNG written by photogen.")],
    source: Annotated[Optional[Path], typer.Option(help="The source photo, if not where it was.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Also keep the replayed images in this folder.")] = None,
) -> None:
    """Make OUTPUT again from its embedded record and say whether the new image is identical."""
    from photogen.domain.errors import PhotogenError
    from photogen.services.replay import replay_output

    settings = load_settings()
    try:
        quiet_libraries()
        verdict = replay_output(settings, output, source=source, out_dir=out)
    except PhotogenError as exc:
        raise fail(exc.code, exc.message, exc.hint) from None
    if verdict.identical:
        typer.secho(f"identical: {output.name} (pixels sha256 {verdict.expected[:16]}...)", fg=typer.colors.GREEN)
        return
    close = verdict.verdict == "close"  # the server's words for the same difference
    typer.secho(
        f"{'close' if close else 'different'}: {output.name}: largest pixel difference {verdict.max_difference} "
        f"of 255 (recorded {verdict.expected[:16]}..., replayed {verdict.actual[:16]}...)",
        fg=typer.colors.YELLOW if close else typer.colors.RED,
    )
    for note in verdict.notes:
        typer.echo(f"  note: {note}")
    raise typer.Exit(code=1)
