"""The `photogen` command. Heavy imports happen inside commands so `--help` stays fast."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from photogen.cli_errors import fail, load_settings

CLOSE_LEVELS = 2  # a replay within this many 8-bit levels everywhere counts as close

app = typer.Typer(
    help="photogen: image-to-image photo generation built around uploads.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _quiet_libraries() -> None:
    """Library chatter (loading bars, optional-dependency notes) would bury our own output."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()


def _box(text: str | None) -> list[str] | None:
    """'10,20,300,400' -> its four parts; the request model checks they are whole numbers."""
    return [part.strip() for part in text.split(",")] if text else None


def _model_spec(model: str) -> str:
    """Paths are recorded absolute so a replay works from any folder."""
    path = Path(model).expanduser()
    return str(path.resolve()) if model != "tiny" and path.exists() else model


@app.command()
def generate(
    source: Annotated[Path, typer.Argument(help="The source photo (JPEG, PNG, WebP).")],
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="What the output should show.")],
    negative_prompt: Annotated[str, typer.Option("--negative", help="What the output should avoid.")] = "",
    image_strength: Annotated[
        Optional[float], typer.Option(help="1.0 keeps the source, 0.0 ignores it; denoising strength is 1 - this. [default: 0.35, or the recipe's]")
    ] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of image 0 (image k uses seed + k).")] = None,
    steps: Annotated[int, typer.Option(help="Scheduler steps; int(steps x (1 - image strength)) run.")] = 30,
    guidance: Annotated[Optional[float], typer.Option(help="Classifier-free guidance scale. [default: 7, or the recipe's]")] = None,
    aspect: Annotated[Optional[str], typer.Option(help="Crop to this ratio first, e.g. 4:5.")] = None,
    preset: Annotated[
        Optional[str], typer.Option(help="Crop for a use, placed on the face or subject: headshot, instagram-square, product-hero, poster:50x70cm, custom:3:2, ...")
    ] = None,
    crop_box: Annotated[Optional[str], typer.Option(help="Crop box LEFT,TOP,RIGHT,BOTTOM in the upright photo's pixels.")] = None,
    width: Annotated[Optional[int], typer.Option(help="Explicit output width (with --height).")] = None,
    height: Annotated[Optional[int], typer.Option(help="Explicit output height (with --width).")] = None,
    num_images: Annotated[int, typer.Option("--num-images", "-n", help="How many images.")] = 1,
    scheduler: Annotated[str, typer.Option(help="default, euler, euler_a, dpmpp_2m, ddim, pndm, lms.")] = "default",
    model: Annotated[Optional[str], typer.Option(help="tiny, a hub id, a diffusers folder or a .safetensors file.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Folder for the outputs.")] = None,
    recipe: Annotated[Optional[str], typer.Option(help="Start from a recipe (name or name@version); your options win.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Make images from SOURCE and a prompt; each PNG carries its parameters, with a JSON sidecar."""
    from photogen.domain.errors import PhotogenError
    from photogen.cli_paths import ready_folder
    from photogen.domain.params import GenerationRequest

    settings = load_settings()
    given = {
        "prompt": prompt,
        "negative_prompt": negative_prompt or None,
        "image_strength": image_strength,
        "seed": seed,
        "steps": steps,
        "guidance": guidance,
        "aspect_ratio": aspect,
        "crop_preset": preset,
        "crop_box": _box(crop_box),
        "width": width,
        "height": height,
        "num_images": num_images,
        "scheduler": scheduler,
    }
    given = {key: value for key, value in given.items() if value is not None}
    try:
        if recipe:
            given = _recipe_fields(recipe, given)
        request = GenerationRequest.parse({**given, "model": _model_spec(model or settings.default_model)})
        out_dir = ready_folder(out or settings.outputs_dir)  # before the model loads, not after the work
        result = _run_generation(settings, source, request, out_dir, quiet=as_json)
    except PhotogenError as exc:
        raise fail(exc.code, exc.message, exc.hint) from None
    _report(result, as_json)


def _recipe_fields(ref: str, given: dict) -> dict:
    from photogen.cli_admin import _container

    container = _container()
    try:
        return container.recipes.expand("local", ref, given)
    finally:
        container.db.dispose()


def _run_generation(settings, source: Path, request, out_dir: Path, *, quiet: bool):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from photogen.engines.cache import ModelCache
    from photogen.engines.loader import load_generator
    from photogen.services.generation import GenerationService, Source

    _quiet_libraries()
    console = Console(stderr=True, quiet=quiet)
    src = Source.from_path(source, settings)
    models = ModelCache(lambda spec: load_generator(spec, settings))
    with console.status(f"loading model {request.model} ..."):
        generator = models.get(request.model)
    if generator.info.random_weights:
        console.print(f"[yellow]note:[/] model {generator.info.label}; pass --model for real results")
    service = GenerationService(settings, models)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"denoising {request.num_images} image(s)", total=request.denoising_steps)
        return service.generate(src, request, out_dir, on_step=lambda done, total: progress.update(task, completed=done))


def _report(result, as_json: bool) -> None:
    if as_json:
        payload = {
            "job_id": result.job_id,
            "seed": result.request.seed,
            "crop": result.crop.as_dict(),
            "timings": result.timings,
            "outputs": [
                {"png": str(o.png), "sidecar": str(o.sidecar), "seed": o.record["seed"], "scores": score}
                for o, score in zip(result.outputs, result.scores)
            ],
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"job {result.job_id[:8]}: {len(result.outputs)} image(s)")
    for column in ("#", "seed", "size", "identity", "structure", "file"):
        table.add_column(column)
    for output, score in zip(result.outputs, result.scores):
        width, height = output.record["size"]
        identity = "-" if score.get("identity") is None else f"{score['identity']:.3f}" + (" drift" if score["identity_drift"] else "")
        table.add_row(str(output.record["index"]), str(output.record["seed"]), f"{width}x{height}", identity,
                      f"{score['structure']:.3f}", str(output.png))
    Console().print(table)


@app.command()
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
        _quiet_libraries()
        verdict = replay_output(settings, output, source=source, out_dir=out)
    except PhotogenError as exc:
        raise fail(exc.code, exc.message, exc.hint) from None
    if verdict.identical:
        typer.secho(f"identical: {output.name} (pixels sha256 {verdict.expected[:16]}...)", fg=typer.colors.GREEN)
        return
    close = verdict.max_difference <= CLOSE_LEVELS
    typer.secho(
        f"{'close' if close else 'different'}: {output.name}: largest pixel difference {verdict.max_difference} "
        f"of 255 (recorded {verdict.expected[:16]}..., replayed {verdict.actual[:16]}...)",
        fg=typer.colors.YELLOW if close else typer.colors.RED,
    )
    for note in verdict.notes:
        typer.echo(f"  note: {note}")
    raise typer.Exit(code=1)


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Address to bind; default PHOTOGEN_HOST or 127.0.0.1. "
                                                "Anything beyond loopback needs API keys.")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port; default PHOTOGEN_PORT or 8000.")] = None,
    model: Annotated[Optional[str], typer.Option(help="Default model for requests that name none, for this run; "
                                                 "default PHOTOGEN_DEFAULT_MODEL or tiny.")] = None,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="API only: run no in-process worker "
                                            "(jobs wait for a worker elsewhere).")] = False,
) -> None:
    """Run the server: REST API at /v1, docs at /docs, with the in-process worker."""
    import logging

    import uvicorn

    from photogen.api.app import create_app
    from photogen.container import build_container
    from photogen.domain.errors import PhotogenError

    changes: dict = {}
    if host:
        changes["host"] = host
    if port:
        changes["port"] = port
    if model:
        changes["default_model"] = _model_spec(model)
    if no_worker:
        changes["worker_enabled"] = False
    settings = load_settings().model_copy(update=changes)
    _quiet_libraries()
    container = build_container(settings)
    try:
        application = create_app(settings, container=container)
    except PhotogenError as exc:
        container.close()
        raise fail(exc.code, exc.message, exc.hint) from None
    auth = application.state.auth.status()
    typer.echo(f"photogen {settings.home}: database {_redact(settings.resolved_database_url())}, "
               f"blobs {settings.resolved_blob_url()}, default model {settings.default_model}, "
               f"worker {'on' if settings.worker_enabled else 'off'}", err=True)
    typer.echo(f"API keys {'required' if auth.required else 'not required'}: {auth.reason}", err=True)
    typer.echo(f"serving on http://{_url_host(settings.host)}:{settings.port} (API at /v1, docs at /docs)", err=True)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s:     %(name)s: %(message)s")
    logging.getLogger("photogen").setLevel(logging.INFO)  # one line per job state change (photogen.jobs)
    uvicorn.run(application, host=settings.host, port=settings.port, log_level="info", access_log=True)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _register_intake_commands() -> None:
    from photogen.cli_intake import analyze, crop
    from photogen.cli_review import sweep, upscale, vary

    for command in (analyze, crop, sweep, vary, upscale):
        app.command()(command)

    from photogen.cli_admin import register

    register(app)


_register_intake_commands()

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _key_service():
    from photogen.services.keys import KeyService
    from photogen.store.database import Database, migrate

    settings = load_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url())
    migrate(db.engine)
    return KeyService(db)


@keys_app.command("create")
def keys_create(
    owner: Annotated[str, typer.Option(help="Who the key belongs to; each owner sees only their own data.")],
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    from photogen.domain.errors import PhotogenError

    try:
        created = _key_service().create(owner, name)
    except PhotogenError as exc:
        raise fail(exc.code, exc.message, exc.hint) from None
    typer.echo(created.key)
    typer.echo(f"key {created.id} for owner {owner}: store it now, it is not shown again", err=True)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (prefix, owner, state); the keys themselves are not stored."""
    for row in _key_service().list():
        state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
        typer.echo(f"{row.id}  {row.prefix}...  owner={row.owner}  name={row.name!r}  {state}")


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="The key's id or its shown prefix.")]) -> None:
    """Revoke a key; requests with it are refused from then on."""
    from photogen.domain.errors import PhotogenError

    try:
        row = _key_service().revoke(key)
    except PhotogenError as exc:
        raise fail(exc.code, exc.message, exc.hint) from None
    typer.echo(f"revoked {row.id} ({row.prefix}...) of owner {row.owner}")


def main() -> None:
    from photogen.runtime import configure_cpu_threads

    configure_cpu_threads()  # before anything imports torch: OpenMP reads its settings once
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
