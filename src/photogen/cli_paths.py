"""Output paths for CLI commands: checked (and made) before any work starts, and work kept if writing fails."""

from __future__ import annotations

import os
from pathlib import Path

from photogen.domain.errors import PhotogenError


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
