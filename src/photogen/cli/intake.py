"""`photogen analyze` and `photogen crop`: intake from the command line.

Plain functions with Typer annotations; `photogen.cli` registers them. Heavy modules (OpenCV, the face model)
load inside the commands so `photogen --help` stays fast. Every refusal prints one line,
`error [code]: message — hint`, and exits with status 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from photogen.cli.common import fail_with

if TYPE_CHECKING:
    from photogen.domain.errors import PhotogenError
    from photogen.intake.report import PreflightReport

_SUFFIX_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}
_LEVEL_STYLES = {"ok": "green", "warn": "yellow", "block": "bold red"}


def analyze(
    photo: Annotated[
        Path, typer.Argument(help="The photo to check: JPEG, PNG or WebP (HEIC with pillow-heif).")
    ],
    use: Annotated[
        str,
        typer.Option(
            "--use",
            help="What the photo is for: general, headshot (linkedin), instagram-square, instagram-portrait, "
            "product-hero, product-square, poster.",
        ),
    ] = "general",
    json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON instead of a table.")
    ] = False,
) -> None:
    """Check a photo before generation: each check is ok, warn or block, with the value, limit and a fix.

    Exit status: 0 when nothing blocks, 1 when a check blocks, 2 when the photo cannot be read.
    """
    from photogen.domain.errors import PhotogenError
    from photogen.intake.pipeline import intake_photo

    try:
        result = intake_photo(_read(photo), use=use, claimed_type=photo.name)
    except PhotogenError as error:
        _fail(error)
    report = result.report
    if json:
        import json as json_module

        typer.echo(json_module.dumps({"file": str(photo), **report.as_dict()}, indent=2))
    else:
        _print_report(photo, report)
    if report.blocked:
        raise typer.Exit(code=1)


def crop(
    photo: Annotated[Path, typer.Argument(help="The photo to crop.")],
    preset: Annotated[
        str,
        typer.Option(
            "--preset",
            help="headshot (linkedin), instagram-square, instagram-portrait, product-hero, product-square, "
            "poster, poster:WxH[in|cm][@DPI], custom:W:H.",
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write the crop here (.jpg, .png or .webp). Without it, only the plan is shown."
        ),
    ] = None,
) -> None:
    """Plan a use-case crop on the face or subject and optionally write it; the original is never changed.

    The crop is written at the preset's size, or at the crop's own size when the photo is too small to fill
    the preset (enlarging is the upscale pass's job).
    """
    from photogen.domain.errors import InvalidRequest, PhotogenError
    from photogen.intake.crop import CropPlan, crop_decoded
    from photogen.intake.decode import decode_image
    from photogen.intake.derivatives import encode_derivative
    from photogen.intake.pipeline import frame_photo
    from photogen.intake.presets import get_preset

    try:
        chosen = get_preset(preset)
        if out is not None and out.suffix.lower() not in _SUFFIX_FORMATS:
            raise InvalidRequest(
                f"cannot write {out.suffix or 'files without an extension'}",
                hint="name the output .jpg, .png or .webp",
                code="unsupported_output",
            )
        decoded = decode_image(_read(photo), claimed_type=photo.name)
        planned = frame_photo(decoded, chosen)
    except PhotogenError as error:
        _fail(error)
    left, top, right, bottom = planned.plan.box
    typer.echo(
        f"{planned.preset}: box ({left}, {top}, {right}, {bottom}) of the {decoded.size[0]}x{decoded.size[1]} photo, "
        f"{right - left}x{bottom - top} px, placed on the {planned.anchor}"
    )
    output_size = planned.plan.output_size
    if planned.upscale > 1.0:
        output_size = (right - left, bottom - top)
        typer.echo(
            f"note: the photo cannot fill {planned.target_size[0]}x{planned.target_size[1]} without enlarging "
            f"x{planned.upscale:.1f}; the crop keeps its own size and the upscale pass can enlarge it"
        )
    if out is None:
        typer.echo("add --out FILE to write the crop")
        return
    image = crop_decoded(decoded, CropPlan(box=planned.plan.box, output_size=output_size))
    try:
        out.write_bytes(encode_derivative(image, _SUFFIX_FORMATS[out.suffix.lower()]))
    except OSError as error:
        _fail(InvalidRequest(f"cannot write {out} ({error.strerror})", hint="choose a writable path",
                             code="output_unwritable"))  # fmt: skip
    typer.echo(f"wrote {out} ({image.width}x{image.height}, no metadata)")


def _read(photo: Path) -> bytes:
    from photogen.domain.errors import SourceNotFound

    try:
        return photo.read_bytes()
    except FileNotFoundError:
        raise SourceNotFound(f"{photo} does not exist", hint="check the path") from None
    except IsADirectoryError:
        raise SourceNotFound(f"{photo} is a folder", hint="give the path of one photo file") from None
    except PermissionError:
        raise SourceNotFound(f"{photo} cannot be read", hint="check the file's permissions") from None
    except OSError as error:
        raise SourceNotFound(f"{photo} cannot be read ({error.strerror})", hint="check the path") from None


def _fail(error: PhotogenError) -> None:
    raise fail_with(error)


def _print_report(photo: Path, report: PreflightReport) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    if not console.is_terminal:  # piped or captured: no terminal width to fit, keep rows readable
        console = Console(highlight=False, width=160)
    source, metadata = report.source, report.metadata
    camera = ", ".join(part for part in (metadata.camera, metadata.lens, metadata.captured_at) if part)
    console.print(f"[bold]{photo.name}[/bold]: {source.format} {source.size[0]}x{source.size[1]} "
                  f"({source.megapixels:.1f} MP), use: {report.use}")  # fmt: skip
    if camera:
        console.print(f"camera: {camera}")
    if metadata.removed_from_derivatives:
        console.print(
            "private data left out of every derivative: " + ", ".join(metadata.removed_from_derivatives)
        )
    if report.crop is not None:
        left, top, right, bottom = report.crop.plan.box
        console.print(
            f"crop: {report.crop.preset} box ({left}, {top}, {right}, {bottom}) on the {report.crop.anchor}"
        )
    table = Table(show_lines=False)
    for column in ("check", "level", "value", "threshold", "finding", "fix"):
        table.add_column(column, overflow="fold")
    for check in report.checks:
        style = _LEVEL_STYLES[check.level.value]
        table.add_row(check.name, f"[{style}]{check.level.value}[/{style}]", f"{check.value}",
                      check.threshold.describe(), check.message, check.fix)  # fmt: skip
    console.print(table)
    for reason in report.skipped:
        console.print(f"not measured: {reason}")
    style = _LEVEL_STYLES[report.level.value]
    console.print(f"overall: [{style}]{report.level.value}[/{style}]")
