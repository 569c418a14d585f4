"""What routes depend on: the request's container and the owner behind its API key."""

from __future__ import annotations

import base64
import binascii
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
    key = x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        key = authorization[7:].strip()
    return _owner_of_key(request, key, hint="send Authorization: Bearer <key>")


def sdapi_owner(
    request: Request,
    authorization: Annotated[str | None, Header(description="Bearer <API key>, or Basic auth (AUTOMATIC1111's "
                                                "--api-auth) with the API key as the password")] = None,
    x_api_key: Annotated[str | None, Header(description="The API key, as an alternative to Authorization.")] = None,
) -> str:
    """The owner on the AUTOMATIC1111 paths: the same keys and rules as /v1, also sent the way AUTOMATIC1111's
    --api-auth clients send theirs, as HTTP basic auth, where the password is the API key (the user name is
    free: the key alone says who the owner is)."""
    key = x_api_key
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() == "bearer":
        key = value.strip()
    elif scheme.lower() == "basic":
        try:
            _user, colon, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            colon, password = "", ""
        if not colon:
            raise Unauthorized("the basic auth credentials are not base64 of user:password",
                               hint="send the API key as the basic auth password, e.g. webuiapi's set_auth(user, key)")
        key = password
    return _owner_of_key(request, key, hint="send the API key as the basic auth password (webuiapi: "
                         "set_auth(user, key)), or Authorization: Bearer <key>")


def _owner_of_key(request: Request, key: str | None, *, hint: str) -> str:
    container = container_of(request)
    if not request.app.state.auth.status().required:
        return LOCAL_OWNER
    if not key:
        if not container.keys.any_active():
            raise Unauthorized("an API key is required and none is active", hint=CREATE_KEY_HINT)
        raise Unauthorized("an API key is required", hint=hint)
    return container.keys.authenticate(key)


Owner = Annotated[str, Depends(current_owner)]
SdapiOwner = Annotated[str, Depends(sdapi_owner)]
IdempotencyKey = Annotated[
    str | None, Header(max_length=200, description="Retries with the same key return the first job.")
]
