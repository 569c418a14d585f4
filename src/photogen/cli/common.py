"""What every CLI command shares: failures, settings, output paths, option parsing, quiet libraries.

Every failure reads `error [code]: message`, then `  fix: hint` on its own line, and exits with status 2.
Output paths are checked (and made) before any work starts, and work is kept if writing fails.
Only light modules are imported here: heavy ones load inside the functions, so `photogen --help` stays fast.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from photogen.domain.errors import PhotogenError

if TYPE_CHECKING:
    from photogen.config import Settings
    from photogen.container import Container

EXIT_USAGE = 2


def fail(code: str, message: str, hint: str = "") -> typer.Exit:
    """Print one clear error line (and its fix) to stderr; the caller raises the returned Exit."""
    typer.secho(f"error [{code}]: {message}", fg=typer.colors.RED, err=True)
    if hint:
        typer.echo(f"  fix: {hint}", err=True)
    return typer.Exit(code=EXIT_USAGE)


def fail_with(error) -> typer.Exit:
    """`fail` for a PhotogenError."""
    return fail(error.code, error.message, error.hint)


def load_settings() -> Settings:
    """The settings from the environment; a bad value ends the command with one error per setting."""
    from pydantic import ValidationError

    from photogen.config import Settings

    try:
        return Settings()
    except ValidationError as exc:
        exit_ = None
        for error in exc.errors():
            name, value, message, hint = describe_setting_error(error)
            exit_ = fail("invalid_setting", f"{name}={value}: {message}" if value is not None else f"{name}: {message}",
                         hint)
        raise exit_ or typer.Exit(code=EXIT_USAGE) from None


def describe_setting_error(error: dict) -> tuple[str, str | None, str, str]:
    """(variable name, the value given, what is wrong in plain words, how to fix it) for one pydantic error."""
    from photogen.config import Settings

    field = str(error["loc"][0]) if error.get("loc") else ""
    name = f"PHOTOGEN_{field.upper()}" if field else "PHOTOGEN_*"
    value = error.get("input")
    shown = None if isinstance(value, dict) or value is None else str(value)
    context = error.get("ctx") or {}
    bounds = {"greater_than_equal": ("at least", "ge"), "less_than_equal": ("at most", "le"),
              "greater_than": ("more than", "gt"), "less_than": ("less than", "lt")}
    if error["type"] in bounds:
        words, key = bounds[error["type"]]
        message = f"must be {words} {context.get(key)}"
    else:
        message = error["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
    described = Settings.model_fields[field].description if field in Settings.model_fields else None
    hint = f"set {name} to a valid value or unset it" + (f" ({described})" if described else "")
    return name, shown, message, hint


def open_container() -> Container:
    """The services for a one-off command, without a worker; the caller closes it."""
    from photogen.container import build_container

    return build_container(load_settings(), worker=False)


def quiet_libraries() -> None:
    """Library chatter (loading bars, optional-dependency notes) would bury our own output."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()


def model_spec(model: str) -> str:
    """Paths are recorded absolute so a replay works from any folder."""
    path = Path(model).expanduser()
    return str(path.resolve()) if model != "tiny" and path.exists() else model


class OutputNotWritable(PhotogenError):
    code = "output_not_writable"


def ready_folder(folder: Path) -> Path:
    """`folder`, made like `mkdir -p` if missing; refused up front when it cannot be made or written to."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputNotWritable(f"{folder} is a file, not a folder", hint="give a folder for the outputs") from None
    except OSError as exc:
        raise OutputNotWritable(f"cannot create the output folder {folder} ({exc.strerror})",
                                hint="choose a folder you can write to") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputNotWritable(f"cannot write to the output folder {folder}", hint="choose a folder you can write to")
    return folder


def ready_file(path: Path) -> Path:
    """`path` for a file to write at the end: its folder made now, refused up front when that cannot work."""
    if path.is_dir():
        raise OutputNotWritable(f"{path} is a folder", hint="give a file name, e.g. photo_x2.png")
    ready_folder(path.parent if str(path.parent) else Path("."))
    return path


def write_or_keep(path: Path, data: bytes, fallback_folder: Path) -> tuple[Path, str | None]:
    """Write `data` to `path`; if that fails now, save it in `fallback_folder` instead and say why.

    Returns where the bytes went and a note when it was not `path`; raises only when both fail.
    """
    try:
        path.write_bytes(data)
        return path, None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
    fallback = ready_folder(fallback_folder) / path.name
    try:
        fallback.write_bytes(data)
    except OSError as exc:
        raise OutputNotWritable(f"cannot write {path} ({reason}) nor {fallback} ({exc.strerror})",
                                hint="free some space or choose a writable --out") from None
    return fallback, f"could not write {path} ({reason}); saved to {fallback} instead"
