"""What routes depend on: the request's container and the owner behind its API key.

`Owner` checks the key in a thread of its own before a route runs. The routes clients call for every image
(submit, read the job, its events, the download) take a `Caller` instead: the key is read from the headers on
the event loop and checked by `.owner()` inside the one thread call that does the route's work, so such
a request crosses to a thread and back once rather than three times (dependency, route, response)."""

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


BEARER_HINT = "send Authorization: Bearer <key>"


def current_owner(
    request: Request,
    authorization: Annotated[str | None, Header(description="Bearer <API key>")] = None,
    x_api_key: Annotated[str | None, Header(description="The API key, as an alternative to Authorization.")] = None,
) -> str:
    """The owner behind the request's API key; on a server that requires none, everyone is the local owner."""
    return _owner_of_key(request, _bearer_key(authorization, x_api_key), hint=BEARER_HINT)


class Credentials:
    """A request's API key as its headers give it, not checked yet: `owner()` checks it (a database read), in the
    thread that does the route's work."""

    def __init__(self, request: Request, key: str | None) -> None:
        self._request, self._key = request, key

    def owner(self) -> str:
        """The owner behind the key, as `current_owner` finds it (Unauthorized otherwise)."""
        return _owner_of_key(self._request, self._key, hint=BEARER_HINT)


async def current_credentials(
    request: Request,
    authorization: Annotated[str | None, Header(description="Bearer <API key>")] = None,
    x_api_key: Annotated[str | None, Header(description="The API key, as an alternative to Authorization.")] = None,
) -> Credentials:
    return Credentials(request, _bearer_key(authorization, x_api_key))


def _bearer_key(authorization: str | None, x_api_key: str | None) -> str | None:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return x_api_key


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
Caller = Annotated[Credentials, Depends(current_credentials)]
SdapiOwner = Annotated[str, Depends(sdapi_owner)]
IdempotencyKey = Annotated[
    str | None, Header(max_length=200, description="Retries with the same key return the first job.")
]
