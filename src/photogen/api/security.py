"""What a browser may do with the server: which Host names it answers, which origins may change
state, which headers every answer carries.

A server without keys trusts whoever reaches it, so it must make sure only this machine does.
Binding to 127.0.0.1 is not enough: a web page the user visits can point one of its own names
at 127.0.0.1 (DNS rebinding) and then read the API as if it were same-origin, or simply post a
form or a multipart upload to http://127.0.0.1:8000 (cross-site request). The checks follow
Jupyter Server's (`check_host` and `check_origin`), the headers Grafana's defaults:

* Host: answered only for localhost, loopback IPs, the bound address and the names in
  PHOTOGEN_ALLOWED_HOSTS; anything else gets 421 with the JSON error shape. Rebinding needs the
  attacker's own name in Host, so this closes it. Ports are not compared (rebinding cannot change
  the port, port forwarding can). A server bound to every interface (0.0.0.0, ::) also answers
  any IP literal, as clients on the network use its address; it always requires API keys.
* Origin: POST, PUT, PATCH and DELETE whose Origin (failing that, Referer) is not the server's
  own origin get 403, unless the origin is in PHOTOGEN_CORS_ORIGINS. `Origin: null` (sandboxed
  frames, file: pages) is foreign. Requests with neither header (curl, SDKs) are not from a
  browser page and pass; they still need a key where keys are required.
* CORS: off unless PHOTOGEN_CORS_ORIGINS names origins (Starlette's CORSMiddleware).
* Headers on every answer, errors and static files included: a Content-Security-Policy that
  allows only 'self' (the UI ships its scripts and styles as files, images are blob: URLs made
  by its own scripts), frame-ancestors 'none' with X-Frame-Options DENY, X-Content-Type-Options
  nosniff, Referrer-Policy same-origin (not no-referrer: that makes browsers send `Origin: null`
  on the UI's own POSTs) and Cross-Origin-Opener-Policy same-origin. A page that needs a
  different policy (ReDoc's inline styles) sets its own Content-Security-Policy, which is kept.
"""

from __future__ import annotations

import ipaddress
import json
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOCAL_NAMES = frozenset({"localhost"})
WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def is_loopback(host: str) -> bool:
    """Whether an address to bind or a Host name stays on this machine."""
    host = host.strip("[]").lower()
    if host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def split_host(value: str) -> tuple[str, int | None]:
    """'Example.org:8000' -> ('example.org', 8000); '[::1]:80' -> ('::1', 80)."""
    parts = urlsplit(f"//{value.strip()}")
    try:
        port = parts.port
    except ValueError:
        port = None
    return (parts.hostname or "").lower(), port


class HostPolicy:
    """Which Host header values the server answers (see the module docstring)."""

    def __init__(self, bind_host: str, allowed: list[str]) -> None:
        self.bind_host = bind_host.strip("[]").lower()
        self.allowed = {entry.strip().lower() for entry in allowed if entry.strip()}

    def allows(self, host_header: str) -> bool:
        if "*" in self.allowed:
            return True
        name, _port = split_host(host_header)
        if not name:
            return False
        if host_header.strip().lower() in self.allowed or name in self.allowed:
            return True
        if is_loopback(name) or name == self.bind_host:
            return True
        return self.bind_host in WILDCARD_BINDS and _ip(name) is not None


def origin_of(value: str) -> str:
    """An Origin or Referer value as scheme://host[:port] without a default port, or 'null'."""
    parts = urlsplit(value.strip())
    if not parts.scheme or not parts.hostname:
        return "null"
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        return "null"
    if port is not None and port != DEFAULT_PORTS.get(parts.scheme.lower()):
        host = f"{host}:{port}"
    return f"{parts.scheme.lower()}://{host}"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


async def _refuse(send: Send, status: int, code: str, message: str, hint: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message, "hint": hint}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class SecurityHeadersMiddleware:
    """Adds SECURITY_HEADERS to every HTTP answer; headers the answer already has are kept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {key.lower() for key, _ in headers}
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k.encode() not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HostCheckMiddleware:
    """421 for Host names the server does not answer to (DNS rebinding)."""

    def __init__(self, app: ASGIApp, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = _header(scope, b"host")
            if host is not None and not self.policy.allows(host):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                name = split_host(host)[0] or host[:100]
                await _refuse(send, 421, "host_not_allowed", f"this server does not answer to the name {name!r}",
                              f"open it as http://localhost or http://127.0.0.1, or add {name} to "
                              "PHOTOGEN_ALLOWED_HOSTS on the server")
                return
        await self.app(scope, receive, send)


class OriginCheckMiddleware:
    """403 for state-changing requests sent by a page of another origin (cross-site requests)."""

    def __init__(self, app: ASGIApp, cors_origins: list[str]) -> None:
        self.app = app
        self.trusted = {origin_of(o) for o in cors_origins if o.strip() and o.strip() != "null"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in STATE_CHANGING:
            sent = _header(scope, b"origin")
            if sent is None:
                referer = _header(scope, b"referer")
                sent = origin_of(referer) if referer else None
            if sent is not None and not self._same_or_trusted(scope, sent):
                await _refuse(send, 403, "cross_origin_refused",
                              f"{scope['method']} requests from the web page at {sent[:200]!r} are refused",
                              "use photogen from its own pages, or add that origin to PHOTOGEN_CORS_ORIGINS "
                              "on the server")
                return
        await self.app(scope, receive, send)

    def _same_or_trusted(self, scope: Scope, sent: str) -> bool:
        origin = origin_of(sent) if sent.strip().lower() != "null" else "null"
        if origin == "null":
            return False
        if origin in self.trusted:
            return True
        host = _header(scope, b"host")
        if host is None:
            return False
        scheme = urlsplit(origin).scheme
        return origin_of(f"{scheme}://{host}") == origin
