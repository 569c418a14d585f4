"""`photogen identities create | list | show | add | remove | rename | delete`: identity sets from the command line.

A set's references are uploads in photogen's database (the server's, with the same PHOTOGEN_HOME or
PHOTOGEN_DATABASE_URL); `create` and `add` also take photo files, which they upload first. Heavy imports stay
inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from photogen.cli.common import fail_with, open_container

identities_app = typer.Typer(help="Identity sets: named groups of photos of one person or product, with a coverage "
                             "report (angles, distance, light, consistency, what is missing).", no_args_is_help=True)

Owner = Annotated[str, typer.Option(help="Whose sets and uploads.")]
Json = Annotated[bool, typer.Option("--json", help="Print the set as JSON instead of tables.")]
SetId = Annotated[str, typer.Argument(help="The identity set's id.")]
_LEVEL_STYLES = {"ok": "green", "warn": "yellow", "block": "bold red", "not_measured": "dim"}
_WORDS = {"straight_on": "straight-on", "three_quarter_left": "3/4 left", "three_quarter_right": "3/4 right",
          "close_up": "close-up", "head_and_shoulders": "head and shoulders", "wide": "wide", "detail": "detail",
          "whole": "whole", "in_context": "in context", "even": "even", "from_left": "from the left",
          "from_right": "from the right"}


def _run(action):
    """Run `action(container)`, turning photogen's errors into one clear line; the database is closed after."""
    from photogen.domain.errors import PhotogenError

    container = None
    try:
        container = open_container()
        return action(container)
    except PhotogenError as exc:
        raise fail_with(exc) from None
    finally:
        if container is not None:
            container.close()


def _upload_ids(container, owner: str, items: list[str]) -> list[str]:
    """Upload ids as given; photo files are uploaded first (the same bytes again make a new upload record)."""
    from photogen.domain.errors import SourceNotFound

    ids = []
    for item in items:
        path = Path(item).expanduser()
        if not path.is_file():
            ids.append(item)
            continue
        try:
            data = path.read_bytes()
        except OSError as error:
            raise SourceNotFound(f"{path} cannot be read ({error.strerror})", hint="check the path") from None
        ids.append(container.uploads.create(owner, data, path.name).id)
    return ids


@identities_app.command("create")
def identities_create(
    name: Annotated[str, typer.Argument(help="What to call the person or product.")],
    photos: Annotated[list[str], typer.Argument(help="Upload ids or photo files, in order.")],
    kind: Annotated[str, typer.Option(help="person (faces are measured) or product.")] = "person",
    owner: Owner = "local",
    as_json: Json = False,
) -> None:
    """Make a set and print its coverage report. Photo files given are uploaded first (and removed again if the
    set is refused)."""

    def create(container):
        ids = _upload_ids(container, owner, photos)
        try:
            return container.identities.create(owner, name, ids, kind)
        except Exception:
            for upload_id, item in zip(ids, photos):
                if upload_id != item:  # uploaded by this command
                    container.uploads.delete(owner, upload_id, reason="identity set refused")
            raise

    _print(_run(create), as_json)


@identities_app.command("list")
def identities_list(owner: Owner = "local") -> None:
    """The sets, most recently changed first."""
    from rich.table import Table

    sets = _run(lambda c: c.identities.list(owner))
    if not sets:
        typer.echo("no identity sets yet: photogen identities create NAME PHOTO...")
        return
    table = Table()
    for column in ("id", "name", "kind", "references", "usable", "changed"):
        table.add_column(column, overflow="fold")
    for item in sets:
        table.add_row(item.id, item.name, item.kind, str(item.references), str(item.usable),
                      f"{item.updated_at:%Y-%m-%d %H:%M}")
    _console().print(table)


@identities_app.command("show")
def identities_show(set_id: SetId, owner: Owner = "local", as_json: Json = False) -> None:
    """A set's references, coverage report and history."""
    _print(_run(lambda c: c.identities.get(owner, set_id)), as_json)


@identities_app.command("add")
def identities_add(
    set_id: SetId,
    photos: Annotated[list[str], typer.Argument(help="Upload ids or photo files to add at the end.")],
    owner: Owner = "local",
    as_json: Json = False,
) -> None:
    """Add references and print the new coverage report."""
    _print(_run(lambda c: c.identities.update(owner, set_id, add=_upload_ids(c, owner, photos))), as_json)


@identities_app.command("remove")
def identities_remove(
    set_id: SetId,
    upload_ids: Annotated[list[str], typer.Argument(help="Upload ids of the references to take out.")],
    owner: Owner = "local",
    as_json: Json = False,
) -> None:
    """Take references out (the history keeps them) and print the new coverage report."""
    _print(_run(lambda c: c.identities.update(owner, set_id, remove=upload_ids)), as_json)


@identities_app.command("rename")
def identities_rename(
    set_id: SetId, name: Annotated[str, typer.Argument(help="The new name.")], owner: Owner = "local"
) -> None:
    """Give a set a new name."""
    view = _run(lambda c: c.identities.update(owner, set_id, name=name))
    typer.echo(f"renamed {view.id} to {view.name}")


@identities_app.command("delete")
def identities_delete(set_id: SetId, owner: Owner = "local") -> None:
    """Delete a set and its history; the uploads stay."""
    deleted = _run(lambda c: c.identities.delete(owner, set_id))
    typer.echo(f"deleted identity set {set_id} ({deleted['references']} references; the uploads stay)")


# -- output --------------------------------------------------------------------------------------

def _console():
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:  # piped or captured: no terminal width to fit, keep rows readable
        console = Console(highlight=False, width=160)
    return console


def _styled(level: str, text: str | None = None) -> str:
    style = _LEVEL_STYLES.get(level, "")
    return f"[{style}]{text or level}[/{style}]" if style else (text or level)


def _print(view, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(view.as_dict(), indent=2))
        return
    from rich.markup import escape
    from rich.table import Table

    console = _console()
    report = view.coverage
    data = report.as_dict()
    console.print(f"[bold]{escape(view.name)}[/bold] ({view.kind}) {view.id}: {report.total} references, "
                  f"{report.usable} usable; coverage {_styled(report.level.value)}")
    verdicts = {verdict.upload_id: verdict for verdict in report.references}
    table = Table()
    for column in ("#", "file", "usable", "angle", "distance", "light", "similarity", "note"):
        table.add_column(column, overflow="fold")
    for member in view.members:
        verdict, measures = verdicts[member.upload_id], member.measures
        angle = distance = light = "-"
        if measures is not None:
            if measures.yaw_degrees is not None:
                angle = f"{_WORDS.get(verdict.angle, '-')} ({measures.yaw_degrees:+.0f}°)"
            share = measures.face_share if measures.face_share is not None else measures.subject_share
            if share is not None:
                distance = f"{_WORDS.get(verdict.distance, '-')} ({share:.0%})"
            if measures.brightness is not None:
                stops = measures.light_direction_stops
                light = f"{_WORDS.get(verdict.light, '-')} ({measures.brightness:.0f}" + (
                    f", {stops:+.2f} stops)" if stops is not None else ")")
        similarity = "-" if verdict.similarity is None else f"{verdict.similarity:.2f}"
        note = verdict.note or "; ".join(member.warnings)
        table.add_row(str(member.position + 1), escape(member.name),
                      _styled(verdict.level.value, "yes" if verdict.usable else "no"),
                      angle, distance, light, similarity, escape(note))
    console.print(table)
    if data["angles"] is not None:
        console.print("angles: " + ", ".join(f"{_WORDS[name]} {count}" for name, count in data["angles"].items()))
    for label, spread, form in (("distance", data["distance"], "{:.0%}"),
                                ("brightness", data["lighting"]["brightness"], "{:.0f}"),
                                ("light direction", data["lighting"]["direction"], "{:+.2f}")):
        if spread["min"] is None:
            continue
        counts = ", ".join(f"{_WORDS.get(name, name)} {count}" for name, count in spread["counts"].items())
        console.print(f"{label}: {form.format(spread['min'])} to {form.format(spread['max'])} "
                      f"({escape(spread['measure'])}, {spread['unit']})" + (f"; {counts}" if counts else ""))
    consistency = data["consistency"]
    console.print(f"consistency: {_styled(consistency['level'])}: {escape(consistency['message'])}")
    for flag in data["flags"]:
        console.print(f"  {_styled(flag['level'])} {escape(flag['message'])}\n    fix: {escape(flag['fix'])}")
    for heading, lines in (("missing", data["missing"]), ("not measured", data["notes"])):
        if lines:
            console.print(f"{heading}:")
            for line in lines:
                console.print(f"  - {escape(line)}")
    if view.history:
        console.print("history:")
        for entry in view.history:
            what = entry.filename if entry.filename is not None else f"upload {entry.upload_id[:8]} (deleted)"
            reason = f": {entry.reason}" if entry.reason else ""
            console.print(f"  {entry.at:%Y-%m-%d %H:%M} {entry.action} {escape(what)} by {escape(entry.by)}"
                          f"{escape(reason)}")
