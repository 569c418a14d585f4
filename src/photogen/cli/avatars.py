"""`photogen avatars create | show | list`: avatar sets from the command line.

`create` runs an identity set (made with `photogen identities create`) through scenarios in this process: one
generation per scenario, the outputs scored against the set, those below PHOTOGEN_IDENTITY_THRESHOLD marked and,
with --retry, run again with the next seeds; then it writes the grid PNG to --out. Heavy imports stay inside the
commands.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from photogen.cli.common import fail_with, load_settings, open_container, quiet_libraries, ready_folder

avatars_app = typer.Typer(help="Avatar sets: an identity set run through scenarios (one run each), N outputs per "
                          "scenario, scored, and a grid.", no_args_is_help=True)

Owner = Annotated[str, typer.Option(help="Whose identity set and outputs.")]
Json = Annotated[bool, typer.Option("--json", help="Print the avatar set as JSON.")]
POLL_S = 0.2


def _view_dict(view) -> dict:
    return {
        "id": view.id, "state": view.state, "identity_id": view.identity_id, "spec": view.spec,
        "marked": list(view.marked),
        "runs": [{"scenario": run.scenario, "job_id": run.job.id, "state": run.job.state, "attempt": run.attempt,
                  "retry_of": run.retry_of, "error": run.job.error_message,
                  "outputs": [{"id": a.id, "seed": a.seed, "scores": a.scores} for a in run.outputs]}
                 for run in view.runs],
        "grid": None if view.grid is None else {"id": view.grid.id, "width": view.grid.width,
                                                "height": view.grid.height, "sha256": view.grid.sha256},
    }


def _print(view, as_json: bool, grid_path: Path | None = None) -> None:
    data = _view_dict(view)
    if grid_path is not None:
        data["grid_png"] = str(grid_path)
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    typer.echo(f"avatar set {view.id}: {view.state} (identity set {view.identity_id}, seed {view.spec['seed']})")
    for run in view.runs:
        label = f"  {run.scenario}" + (f" retry {run.attempt}" if run.attempt else "") + f": {run.job.state}"
        scores = []
        for output in run.outputs:
            best = ((output.scores or {}).get("identity_set") or {}).get("best")
            mark = " below" if output.id in view.marked else ""
            scores.append(f"seed {output.seed} identity {'no face' if best is None else f'{best:.2f}'}{mark}")
        typer.echo(label + (": " + "; ".join(scores) if scores else ""))
    if grid_path is not None:
        typer.echo(f"grid: {grid_path}")


@avatars_app.command("create")
def avatars_create(
    identity_id: Annotated[str, typer.Argument(help="The identity set's id (photogen identities list).")],
    scenario: Annotated[list[str], typer.Option("--scenario", "-s", help="A scenario recipe, e.g. avatar-corporate-headshot (repeat: one run each).")],
    num_images: Annotated[int, typer.Option("--num-images", "-n", help="Outputs per scenario (1-4).")] = 2,
    model: Annotated[Optional[str], typer.Option(help="Model name from the catalogue. [default: the default model]")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of each scenario's first output. [default: random]")] = None,
    details: Annotated[str, typer.Option(help="Your words, filled into each scenario's template.")] = "",
    retry: Annotated[bool, typer.Option("--retry", help="Run a scenario again with its next seeds when an output falls below the identity threshold.")] = False,
    max_retries: Annotated[int, typer.Option(help="Most retries per scenario (with --retry).")] = 1,
    steps: Annotated[Optional[int], typer.Option(help="Steps per output. [default: the model's]")] = None,
    size: Annotated[Optional[int], typer.Option(help="Square output side in pixels. [default: the scenario's crop at the model's size]")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Folder for the grid PNG.")] = None,
    owner: Owner = "local",
    as_json: Json = False,
) -> None:
    """Run the scenarios here and now, then write the grid (a row per scenario, each output with its score)."""
    from photogen.container import build_container
    from photogen.domain.errors import PhotogenError

    settings = load_settings()
    quiet_libraries()
    container = build_container(settings, worker=True)
    try:
        out_dir = ready_folder(out or settings.outputs_dir)
        container.worker.start()
        view = container.avatars.create(owner, identity_id, scenario, num_images=num_images, model=model, seed=seed,
                                        details=details, retry=retry, max_retries=max_retries, steps=steps, size=size)
        while view.state == "running":
            time.sleep(POLL_S)
            view = container.avatars.get(owner, view.id)
        grid_path = None
        if view.grid is not None:
            grid_path = out_dir / f"avatars_{view.id[:8]}_grid.png"
            grid_path.write_bytes(container.assets.content(owner, view.grid.id)[1])
    except PhotogenError as exc:
        raise fail_with(exc) from None
    finally:
        container.close()
    _print(view, as_json, grid_path)
    if view.state == "failed":
        raise typer.Exit(code=1)


@avatars_app.command("show")
def avatars_show(set_id: Annotated[str, typer.Argument(help="The avatar set's id.")], owner: Owner = "local",
                 as_json: Json = False) -> None:
    """An avatar set's runs, scores and grid."""
    from photogen.domain.errors import PhotogenError

    container = open_container()
    try:
        view = container.avatars.view(owner, set_id)
    except PhotogenError as exc:
        raise fail_with(exc) from None
    finally:
        container.close()
    _print(view, as_json)


@avatars_app.command("list")
def avatars_list(owner: Owner = "local") -> None:
    """The avatar sets, newest first."""
    container = open_container()
    try:
        sets = container.avatars.list(owner)
    finally:
        container.close()
    if not sets:
        typer.echo("no avatar sets yet: photogen avatars create IDENTITY_ID --scenario avatar-corporate-headshot")
    for view in sets:
        typer.echo(f"{view.id}  {view.state}  {', '.join(view.spec['scenarios'])}  ({len(view.marked)} marked)")
