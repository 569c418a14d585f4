"""`photogen generate`: images from a source photo and a prompt. Heavy imports stay inside."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from photogen.cli.common import fail, load_settings, model_spec, open_container, quiet_libraries, ready_folder


def _box(text: str | None) -> list[str] | None:
    """'10,20,300,400' -> its four parts; the request model checks they are whole numbers."""
    return [part.strip() for part in text.split(",")] if text else None


def generate(
    source: Annotated[Path, typer.Argument(help="The source photo (JPEG, PNG, WebP).")],
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="What the output should show.")],
    negative_prompt: Annotated[str, typer.Option("--negative", help="What the output should avoid.")] = "",
    image_strength: Annotated[
        Optional[float], typer.Option(help="1.0 keeps the source, 0.0 ignores it; denoising strength is 1 - this. [default: 0.35, or the recipe's]")
    ] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of image 0 (image k uses seed + k).")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Scheduler steps; int(steps x (1 - image strength)) run (edit models run all). [default: 30, or the model's]")] = None,
    guidance: Annotated[Optional[float], typer.Option(help="Guidance scale. [default: 7, or the recipe's, or the model's]")] = None,
    aspect: Annotated[Optional[str], typer.Option(help="Crop to this ratio first, e.g. 4:5.")] = None,
    preset: Annotated[
        Optional[str], typer.Option(help="Crop for a use, placed on the face or subject: headshot, instagram-square, product-hero, poster:50x70cm, custom:3:2, ...")
    ] = None,
    crop_box: Annotated[Optional[str], typer.Option(help="Crop box LEFT,TOP,RIGHT,BOTTOM in the upright photo's pixels.")] = None,
    width: Annotated[Optional[int], typer.Option(help="Explicit output width (with --height).")] = None,
    height: Annotated[Optional[int], typer.Option(help="Explicit output height (with --width).")] = None,
    num_images: Annotated[int, typer.Option("--num-images", "-n", help="How many images.")] = 1,
    scheduler: Annotated[str, typer.Option(help="default, euler, euler_a, dpmpp_2m, ddim, pndm, lms.")] = "default",
    model: Annotated[Optional[str], typer.Option(help="tiny (or tiny-flux2-klein, tiny-flux-kontext, tiny-qwen-image-edit-plus), a hub id, a diffusers folder or a .safetensors file; MODEL+ip-adapter=WEIGHTS adds an IP-Adapter to an SD model.")] = None,
    reference: Annotated[Optional[list[Path]], typer.Option("--reference", "-r", help="A reference image for models that take them (repeat for several, in order).")] = None,
    reference_strength: Annotated[Optional[float], typer.Option(help="How strongly the references steer the output, 0 to 1 (IP-Adapter models). [default: the model's]")] = None,
    angle: Annotated[Optional[int], typer.Option(help="Turn the head by this many degrees of yaw (e.g. 15 or -15; positive towards the image's right), keeping the crop (instruction-edit models).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Folder for the outputs.")] = None,
    recipe: Annotated[Optional[str], typer.Option(help="Start from a recipe (name or name@version); your options win.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Make images from SOURCE and a prompt; each PNG carries its parameters, with a JSON sidecar."""
    from photogen.domain.errors import PhotogenError
    from photogen.domain.params import GenerationRequest
    from photogen.engines.controls import without_unused_strength
    from photogen.services.generation import Source

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
        "reference_strength": reference_strength,
        "angle": angle,
    }
    given = {key: value for key, value in given.items() if value is not None}
    try:
        references = [Source.from_path(path, settings) for path in reference or ()]
        set_by_user = set(given)
        capabilities = _capabilities(model_spec(model or settings.default_model), settings)
        if recipe:
            given = _recipe_fields(recipe, given, capabilities)
        given = without_unused_strength(given, set_by_user, capabilities)
        if references:
            given["references"] = [ref.decoded.sha256 for ref in references]
        request = GenerationRequest.parse({**given, "model": model_spec(model or settings.default_model)})
        request = _fit_before_loading(request, set_by_user | ({"references"} if references else set()), settings)
        out_dir = ready_folder(out or settings.outputs_dir)  # before the model loads, not after the work
        result = _run_generation(settings, source, request, out_dir, quiet=as_json, given=set_by_user,
                                 references=references)
    except PhotogenError as exc:
        raise fail(exc.code, exc.message, exc.hint) from None
    _report(result, as_json)


def _fit_before_loading(request, given: set[str], settings):
    """The request fitted to its model from the model's configs, so a control it lacks is refused before the
    model loads (a model whose configs cannot be read yet is fitted once loaded)."""
    from photogen.engines.controls import fit_request
    from photogen.engines.loader import inspect_model

    capabilities = inspect_model(request.model, settings).capabilities
    return request if capabilities is None else fit_request(request, given, capabilities, request.model)


def _capabilities(model: str, settings):
    """What the model offers, from its configs (None while they cannot be read: it is fitted once loaded)."""
    from photogen.engines.loader import inspect_model

    return inspect_model(model, settings).capabilities


def _recipe_fields(ref: str, given: dict, capabilities) -> dict:
    """The recipe's fields under what the user set; its instruction variant for an instruction-edit model."""
    instruction = capabilities is not None and capabilities.prompt_kind == "instruction"
    container = open_container()
    try:
        return container.recipes.expand("local", ref, given, instruction=instruction)
    finally:
        container.close()


def _run_generation(settings, source: Path, request, out_dir: Path, *, quiet: bool, given: set[str], references):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from photogen.engines.cache import ModelCache
    from photogen.engines.controls import fit_request
    from photogen.engines.loader import load_generator
    from photogen.services.generation import GenerationService, Source

    quiet_libraries()
    console = Console(stderr=True, quiet=quiet)
    src = Source.from_path(source, settings)
    models = ModelCache(lambda spec: load_generator(spec, settings))
    with console.status(f"loading model {request.model} ..."):
        generator = models.get(request.model)
    if generator.info.random_weights:
        console.print(f"[yellow]note:[/] model {generator.info.label}; pass --model for real results")
    # what you set is checked against the model; what you left out follows the model (its guidance, steps, ...)
    request = fit_request(request, given | ({"references"} if references else set()), generator.capabilities,
                          request.model)
    service = GenerationService(settings, models)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    total = generator.capabilities.denoising_steps(request)
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"denoising {request.num_images} image(s)", total=total)
        return service.generate(src, request, out_dir, references=references,
                                on_step=lambda done, total: progress.update(task, completed=done))


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
