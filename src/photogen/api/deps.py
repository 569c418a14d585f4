"""What routes depend on: the request's container and the owner behind its API key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from photogen.container import Container
from photogen.services.keys import CREATE_KEY_HINT, Unauthorized

LOCAL_OWNER = "local"


def container_of(request: Request) -> Container:
    return request.app.state.container


def current_owner(
    request: Request,
    authorization: Annotated[str | None, Header(description="Bearer <API key>")] = None,
    x_api_key: Annotated[str | None, Header(description="The API key, as an alternative to Authorization.")] = None,
) -> str:
    """The owner behind the request's API key; on a server that requires none, everyone is the local owner."""
    container = container_of(request)
    key = x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        key = authorization[7:].strip()
    if not request.app.state.auth.status().required:
        return LOCAL_OWNER
    if not key:
        if not container.keys.any_active():
            raise Unauthorized("an API key is required and none is active", hint=CREATE_KEY_HINT)
        raise Unauthorized("an API key is required", hint="send Authorization: Bearer <key>")
    return container.keys.authenticate(key)


Owner = Annotated[str, Depends(current_owner)]
IdempotencyKey = Annotated[
    str | None, Header(max_length=200, description="Retries with the same key return the first job.")
]
