"""`photogen keys create | list | revoke`: API keys from the command line."""

from __future__ import annotations

from typing import Annotated

import typer

from photogen.cli.common import fail, load_settings

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


def _key_service():
    from photogen.container import key_service

    return key_service(load_settings())


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
