"""How every CLI command reports a failure: `error [code]: message`, then `  fix: hint` on its own line, exit 2."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from photogen.config import Settings

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
