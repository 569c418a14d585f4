"""`photogen sweep | vary | upscale`: the review habits from the command line. Heavy imports stay inside."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from photogen.cli.common import (
    fail,
    fail_with,
    load_settings,
    model_spec,
    quiet_libraries,
    ready_file,
    ready_folder,
    write_or_keep,
)


def _fail(exc) -> typer.Exit:
    return fail_with(exc)


def _scores_table(title: str, rows: list[tuple[str, str, dict]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in ("image", "file", "identity", "structure", "note"):
        table.add_column(column)
    for label, path, score in rows:
        identity = "-" if score.get("identity") is None else f"{score['identity']:.3f}"
        note = score.get("fix") or score.get("identity_note") or ""
        table.add_row(label, path, identity, f"{score['structure']:.3f}", note)
    Console().print(table)


def sweep(
    source: Annotated[Path, typer.Argument(help="The source photo.")],
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="What the output should show.")],
    field: Annotated[str, typer.Option(help="The control to sweep: image_strength, seed, guidance, steps or angle "
                                       "(head turns, on models that can).")] = "image_strength",
    values: Annotated[str, typer.Option(help="Comma-separated values, e.g. 0.3,0.45,0.6,0.75.")] = "0.3,0.45,0.6,0.75",
    seed: Annotated[Optional[int], typer.Option(help="Seed for every image (one is picked if left out).")] = None,
    steps: Annotated[int, typer.Option(help="Scheduler steps.")] = 30,
    image_strength: Annotated[Optional[float], typer.Option(
        help="Image strength where it is not the swept field (default 0.5 on models that take one; "
             "instruction-edit models take none).")] = None,
    preset: Annotated[Optional[str], typer.Option(help="Crop preset, e.g. headshot.")] = None,
    model: Annotated[Optional[str], typer.Option(help="tiny, a hub id, a folder or a .safetensors file.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Folder for the outputs and the grid.")] = None,
) -> None:
    """Sweep one control with everything else fixed: one output per value plus a labelled grid."""
    from photogen.domain.errors import PhotogenError
    from photogen.domain.params import GenerationRequest
    from photogen.engines.cache import ModelCache
    from photogen.engines.loader import inspect_model, load_generator
    from photogen.services.generation import GenerationService, Source

    settings = load_settings()
    quiet_libraries()
    try:
        parsed = [float(v) if field in ("image_strength", "guidance") else int(v) for v in values.split(",")]
    except ValueError:
        raise _fail_text("invalid_request", f"values {values!r} are not numbers for {field}", "e.g. --values 0.3,0.5,0.7") from None
    try:
        spec = model_spec(model or settings.default_model)
        if image_strength is None and field != "image_strength":
            capabilities = inspect_model(spec, settings).capabilities
            image_strength = 0.5 if capabilities is None or capabilities.image_strength else None
        base = GenerationRequest.parse({"prompt": prompt, "seed": seed, "steps": steps, "image_strength": image_strength,
                                        "crop_preset": preset, "model": spec})
        out_dir = ready_folder(out or settings.outputs_dir)
        service = GenerationService(settings, ModelCache(lambda spec: load_generator(spec, settings)))
        result = service.sweep(Source.from_path(source, settings), base, field, parsed, out_dir)
    except PhotogenError as exc:
        raise _fail(exc) from None
    rows = [(f"{field} {o.record['sweep']['value']}", str(o.png), s) for o, s in zip(result.outputs, result.scores)]
    _scores_table(f"sweep of {field}, seed {result.base.seed}", rows)
    typer.echo(f"grid: {result.grid}")


def _fail_text(code: str, message: str, hint: str) -> typer.Exit:
    return fail(code, message, hint)


def vary(
    output: Annotated[Path, typer.Argument(help="A PNG written by photogen.")],
    change: Annotated[str, typer.Option("--set", help="The one change, FIELD=VALUE, e.g. image_strength=0.6.")],
    source: Annotated[Optional[Path], typer.Option(help="The source photo, if not where it was.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Folder for the new outputs.")] = None,
) -> None:
    """Change one thing: rerun OUTPUT's request, same seed, with one field changed; shows both side by side."""
    from photogen.domain.errors import PhotogenError
    from photogen.domain.params import GenerationRequest
    from photogen.engines.cache import ModelCache
    from photogen.engines.loader import load_generator
    from photogen.outputs import read_record
    from photogen.services.generation import GenerationService
    from photogen.services.replay import find_source
    from photogen.services.review import vary_request

    settings = load_settings()
    quiet_libraries()
    field, sep, raw = change.partition("=")
    if not sep:
        raise _fail_text("invalid_request", f"--set {change!r} is not FIELD=VALUE", "e.g. --set image_strength=0.6")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw  # plain text, e.g. a prompt
    try:
        record = read_record(output)
        original = GenerationRequest.parse(record["request"])
        request = vary_request(original, {field.strip(): value})
        src = find_source(output, record, source, settings)
        out_dir = ready_folder(out or output.parent)
        service = GenerationService(settings, ModelCache(lambda spec: load_generator(spec, settings)))
        result = service.generate(src, request, out_dir)
    except PhotogenError as exc:
        raise _fail(exc) from None
    index = 0 if "sweep" in record else record["index"]  # a sweep output's request made one image
    new = result.outputs[index]
    typer.echo(f"changed {field} from {getattr(original, field.strip())!r} to {value!r}, seed {request.seed}")
    typer.echo(f"before: {output}\nafter:  {new.png}")
    _scores_table("after", [(f"#{index}", str(new.png), result.scores[index])])


def upscale(
    image: Annotated[Path, typer.Argument(help="The image to enlarge (a photogen output or any photo).")],
    factor: Annotated[int, typer.Option(help="2 or 4.")] = 2,
    method: Annotated[str, typer.Option(help="auto, tiled_refine, realesrgan, spandrel or lanczos.")] = "auto",
    model: Annotated[Optional[str], typer.Option(help="Model for the tiled refine (default: the one that made IMAGE).")] = None,
    upscaler_file: Annotated[Optional[Path], typer.Option(help="An upscaler model file for spandrel.")] = None,
    print_size: Annotated[Optional[str], typer.Option("--print", help="Target print, WxH[in|cm][@DPI], e.g. 12x16in@300.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the tiled refine.")] = 0,
    out: Annotated[Optional[Path], typer.Option(help="Output PNG; default IMAGE_xN.png beside it.")] = None,
) -> None:
    """The upscale pass: x2 or x4, recorded in the PNG, with print-size guidance."""
    import hashlib

    from PIL import Image

    from photogen.domain.errors import MetadataMissing, PhotogenError
    from photogen.engines.interrupt import Deadline
    from photogen.engines.loader import load_generator
    from photogen.outputs import encode_png, read_record
    from photogen.runner.upscale import run_upscale
    from photogen.services.review import parse_print

    settings = load_settings()
    quiet_libraries()
    try:
        if not image.is_file():
            raise PhotogenError(f"no file at {image}", hint="check the path", code="source_not_found")
        if factor not in (2, 4):
            raise PhotogenError(f"factor {factor} is not 2 or 4", hint="use --factor 2 or --factor 4", code="invalid_request")
        spec = parse_print(print_size)
        target = ready_file(out or image.with_name(f"{image.stem}_x{factor}.png"))  # checked before the work
        try:
            made_by = read_record(image)["request"]["model"]
        except (MetadataMissing, KeyError):
            made_by = None
        wants_model = method == "tiled_refine" or (method == "auto" and upscaler_file is None and (model or made_by))
        generator = load_generator(model_spec(model or made_by or settings.default_model), settings) if wants_model else None
        with Image.open(image) as opened:
            picture = opened.convert("RGB")
        # The server's upscale pass (runner), here with the file as its lineage; each tile is stopped mid-step
        # once the pass is past the time limit.
        source = {"name": image.name, "sha256": hashlib.sha256(image.read_bytes()).hexdigest()}
        [output] = run_upscale(picture, factor=factor, method=method, model=generator,
                               interrupt=Deadline(settings.job_timeout_s), seed=seed, print_spec=spec,
                               model_path=str(upscaler_file) if upscaler_file else None,
                               lineage={"source": source}).pieces
    except PhotogenError as exc:
        raise _fail(exc) from None
    result, record = output.image, output.record
    how, advice = record["upscale"], record["print"]
    try:  # the folder may have gone while the work ran: keep the work in the outputs folder then
        target, note = write_or_keep(target, encode_png(result, record), settings.outputs_dir)
    except PhotogenError as exc:
        raise _fail(exc) from None
    if note:
        typer.secho(f"warning: {note}", fg=typer.colors.YELLOW, err=True)
    typer.echo(f"{how['upscaler']} x{factor}: {picture.width}x{picture.height} -> {result.width}x{result.height}: {target}")
    if advice:
        width, height, unit = advice["print_size"]
        needed = f"{advice['required_px'][0]}x{advice['required_px'][1]} px, x{advice['factor_needed']} from {picture.width}x{picture.height}"
        best = f"x{advice['recommended_factor']} reaches it" if advice["recommended_factor"] else "no x2 or x4 pass reaches it"
        typer.echo(f"print {width:g}x{height:g} {unit} at {advice['dpi']} DPI needs {needed}; {best}")
        if advice.get("warning"):
            typer.secho(f"warning: {advice['warning']}", fg=typer.colors.YELLOW)
