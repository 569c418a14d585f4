"""The `photogen` command: `app` assembles the command groups, `main` is the console script.

Each command module imports only `photogen.cli.common`, never another command module; heavy imports
happen inside the commands so `photogen --help` stays fast.
"""

from __future__ import annotations

import sys

import typer

# Each submodule by its own name, so the package never imports itself.
import photogen.cli.admin as admin
import photogen.cli.avatars as avatars
import photogen.cli.generate as generate
import photogen.cli.identities as identities
import photogen.cli.intake as intake
import photogen.cli.keys as keys
import photogen.cli.recipes as recipes
import photogen.cli.replay as replay
import photogen.cli.restore as restore
import photogen.cli.review as review
import photogen.cli.serve as serve
import photogen.cli.worker as worker

app = typer.Typer(
    help="photogen: image-to-image photo generation built around uploads.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for command in (
    generate.generate,
    replay.replay,
    serve.serve,
    worker.worker,
    worker.beat,
    intake.analyze,
    intake.crop,
    review.sweep,
    review.vary,
    review.upscale,
    restore.restore,
    admin.purge,
    admin.export,
):
    app.command()(command)
app.add_typer(recipes.recipes_app, name="recipes")
app.add_typer(keys.keys_app, name="keys")
app.add_typer(identities.identities_app, name="identities")
app.add_typer(avatars.avatars_app, name="avatars")


def main() -> None:
    from photogen.runtime import configure_cpu_threads

    configure_cpu_threads()  # before anything imports torch: OpenMP reads its settings once
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
