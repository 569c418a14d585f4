"""`photogen restore SCAN`: an old photo's scan repaired at its own size, as the server's restoration job does."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from photogen.cli.common import fail_with, load_settings, model_spec, quiet_libraries, ready_folder


def restore(
    scan: Annotated[Path, typer.Argument(help="The scan of the old photo (at the highest resolution you have).")],
    mask: Annotated[Optional[Path], typer.Option(help="Your own damage mask at the scan's size: white where "
                                                      "damaged (e.g. an edited *_damage_mask.png).")] = None,
    colourise: Annotated[bool, typer.Option("--colourise", help="Colourise a black-and-white scan (needs an "
                                                                 "instruction-edit --model).")] = False,
    model: Annotated[Optional[str], typer.Option(help="Model that repairs (its inpainting pipeline, or an "
                                                       "instruction-edit model told to repair), passes over faces "
                                                       "and colourises; default: OpenCV only.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the model's passes.")] = 0,
    steps: Annotated[int, typer.Option(help="Scheduler steps of the model's passes.")] = 20,
    out: Annotated[Optional[Path], typer.Option(help="Folder for the result (default: the outputs folder).")] = None,
) -> None:
    """Damage map, repair, tones, faces (and colourise): one PNG at the scan's size, its record naming each
    step, with the damage mask beside it."""
    if colourise and not model:  # refused before anything heavy is imported
        raise fail_with(_no_instruction_model())
    import hashlib
    import uuid
    from datetime import datetime, timezone

    from photogen.domain.errors import PhotogenError
    from photogen.engines.interrupt import Deadline
    from photogen.engines.loader import load_generator
    from photogen.intake.decode import decode_image
    from photogen.outputs import output_stem, write_output
    from photogen.restoration.colourise import check_colourise
    from photogen.restoration.damage import open_mask

    settings = load_settings()
    quiet_libraries()
    try:
        for path in (scan, mask):
            if path is not None and not path.is_file():
                raise PhotogenError(f"no file at {path}", hint="check the path", code="source_not_found")
        folder = ready_folder(out or settings.outputs_dir)
        data = scan.read_bytes()
        decoded = decode_image(data, max_pixels=settings.max_pixels, max_bytes=2**40,
                               max_decoded_bytes=settings.max_decoded_bytes)
        mask_image = None
        if mask is not None:
            mask_bytes = mask.read_bytes()
            decode_image(mask_bytes, max_pixels=settings.max_pixels, max_bytes=2**40,
                         max_decoded_bytes=settings.max_decoded_bytes)  # refused as any photo would be
            mask_image = open_mask(mask_bytes)
        generator = load_generator(model_spec(model), settings) if model else None
        if colourise and generator is not None:
            check_colourise(generator.info.id, generator.capabilities.prompt_kind)
        from photogen.runner.restore import run_restore

        source = {"name": scan.name, "sha256": hashlib.sha256(data).hexdigest(), "size": list(decoded.size)}
        if mask is not None:
            source["mask"] = {"name": mask.name, "sha256": hashlib.sha256(mask.read_bytes()).hexdigest()}
        result = run_restore(decoded.image, mask=mask_image, model=generator, colourise_scan=colourise, seed=seed,
                             steps=steps, interrupt=Deadline(settings.job_timeout_s), lineage={"source": source})
    except PhotogenError as exc:
        raise fail_with(exc) from None
    job_id = uuid.uuid4().hex
    stem = output_stem(datetime.now(timezone.utc), job_id, 0, seed)
    pieces = {piece.kind: piece for piece in result.pieces}
    output = pieces["output"]
    written = write_output(folder, stem, output.image, output.record, {"job_id": job_id, "source_path": str(scan)})
    pieces["damage_mask"].image.save(folder / f"{stem}_damage_mask.png")
    restoration = output.record["restoration"]
    damage = restoration["damage"]
    typer.echo(f"damage: {damage['area_share']:.2%} of the scan ({damage['source']}); "
               f"mask: {folder / f'{stem}_damage_mask.png'}")
    for step in restoration["steps"]:
        if step["step"] == "repair":
            detail = ""
            if step["method"] == "model":
                detail = f" ({step['model']['pipeline']}, {step['tiles_worked']} tiles)"
            elif step["method"] == "edit_model":
                detail = f" ({step['model']['model']}, {step['tiles_worked']} tiles)"
            typer.echo(f"repair: {step['method']}{detail}")
        elif step["step"] == "faces":
            identity = step["identity"]
            similarity = "n/a" if identity["similarity"] is None else f"{identity['similarity']:.3f}"
            typer.echo(f"faces: {len(step['faces'])}, identity {similarity} ({identity['note']})"
                       + ("; drift flagged" if step["drift"] or identity["drift"] else ""))
        elif step["step"] == "colourise":
            typer.echo(f"colourise: " + (f"structure {step['structure']:.3f}" if step["done"] else step["note"]))
    typer.echo(f"restored {output.image.width}x{output.image.height}: {written.png}")


def _no_instruction_model():
    from photogen.domain.errors import PhotogenError

    return PhotogenError("--colourise needs a model that follows instructions", code="colourise_unsupported",
                         hint="add --model with an instruction-edit model, or drop --colourise")
