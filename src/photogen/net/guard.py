"""Fetch URLs that people give us without letting them reach the machine's own network.

Rules:
- Only http and https, with a host and without a user name or password.
- The host is resolved once. The URL is refused when any address it resolves to is not public: loopback,
  private, link-local (cloud metadata at 169.254.169.254 included), multicast, reserved, unspecified,
  shared CGNAT space 100.64.0.0/10, IPv6 unique-local and link-local, and IPv4 addresses carried inside IPv6
  (mapped, 6to4, NAT64) that are any of those. Cloud metadata host names are refused without a lookup, and
  `localhost` names stand for loopback without one.
- An allow-list entry (a host name, an address or a CIDR network) lets that host or address through; this is
  how tests and administrators reach 127.0.0.1.
- The request goes to the address that was checked, never to a second lookup that DNS rebinding could
  change: the URL carries the address, the Host header and, for https, the TLS server name carry the name.
- Redirects are followed by hand and every hop is checked again. Bodies stream and stop past `max_bytes`.
  One deadline covers the whole fetch.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from photogen.domain.errors import PhotogenError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[..., Sequence[tuple[Any, ...]]]

_HINT = "Give a public http or https address; local and private ones need an administrator's allow-list."
_METADATA_NAMES = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOOPBACK = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
# Old numeric IPv4 spellings (2130706433, 0x7f.1, 127.1) that inet_aton reads without any lookup.
_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$")
_FINAL_HINT = "Give the final address of the file."
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class UrlNotAllowed(PhotogenError):
    code = "url_not_allowed"


class UrlFetchFailed(PhotogenError):
    code = "url_fetch_failed"


class UrlTooLarge(PhotogenError):
    code = "upload_too_large"


@dataclass(frozen=True)
class FetchedFile:
    data: bytes
    content_type: str | None
    final_url: str


@dataclass(frozen=True)
class AllowList:
    """Host names and networks that are let through even though they are not public."""

    names: frozenset[str]
    networks: tuple[Network, ...]

    @classmethod
    def parse(cls, entries: Sequence[str]) -> AllowList:
        if isinstance(entries, AllowList):
            return entries
        names, networks = set(), []
        for entry in entries:
            text = entry.strip().strip("[]")
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                names.add(_normal_name(text))
        return cls(frozenset(names), tuple(networks))

    def allows_host(self, host: str) -> bool:
        return _normal_name(host) in self.names

    def allows_address(self, address: Address) -> bool:
        return any(address in network for network in self.networks)


def check_url(
    url: str, *, allow: Sequence[str] = (), resolver: Resolver = socket.getaddrinfo
) -> list[Address]:
    """The addresses `url` may be fetched from; `UrlNotAllowed` when it must not be fetched at all.

    `resolver` is called like `socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)`.
    """
    return _check(parse_url(url), AllowList.parse(allow), resolver)


def fetch_url(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    allow: Sequence[str] = (),
    max_redirects: int = 3,
    resolver: Resolver = socket.getaddrinfo,
    transport: httpx.BaseTransport | None = None,
) -> FetchedFile:
    """GET `url` through the checks above; `timeout` bounds the whole fetch, redirects included."""
    allowed = AllowList.parse(allow)
    deadline = time.monotonic() + timeout
    current = parse_url(url)
    headers = {"Accept": "*/*", "Accept-Encoding": "identity"}
    with http_client(transport) as client:
        for _hop in range(max_redirects + 1):
            addresses = _check(current, allowed, resolver)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _timed_out(timeout)
            try:
                response = send_pinned(client, "GET", current, addresses, timeout=remaining, headers=headers)
            except httpx.TimeoutException:
                raise _timed_out(timeout) from None
            except httpx.HTTPError:
                raise UrlFetchFailed(
                    f"Could not connect to {_display_host(current)}.", hint="Check the address and try again."
                ) from None
            try:
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    current = _redirect_target(current, location)
                    continue
                if not response.is_success:
                    raise UrlFetchFailed(
                        f"The server answered HTTP {response.status_code} for that URL.",
                        hint="Check that the URL opens in a browser without signing in.",
                    )
                data = _read_limited(response, max_bytes, deadline, timeout)
                return FetchedFile(data, response.headers.get("content-type"), str(current))
            finally:
                response.close()
    raise UrlFetchFailed(f"The URL redirected more than {max_redirects} times.", hint=_FINAL_HINT)


def parse_url(url: str | httpx.URL) -> httpx.URL:
    if isinstance(url, httpx.URL):
        return url
    try:
        return httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise UrlNotAllowed("That is not a valid URL.", hint=_HINT) from None


@contextmanager
def http_client(transport: httpx.BaseTransport | None) -> Iterator[httpx.Client]:
    """A client that never follows redirects, never reads proxy settings from the environment, and closes
    only the transport it made itself."""
    owned = transport is None
    transport = httpx.HTTPTransport() if transport is None else transport
    client = httpx.Client(transport=transport, trust_env=False, follow_redirects=False)
    try:
        yield client
    finally:
        if owned:
            client.close()


def send_pinned(
    client: httpx.Client,
    method: str,
    url: httpx.URL,
    addresses: Sequence[Address],
    *,
    timeout: float,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
) -> httpx.Response:
    """Send to the first of the checked `addresses` that accepts a connection; the response streams.

    Raises the httpx error of the last address tried.
    """
    if not addresses:
        raise ValueError("send_pinned needs at least one checked address")
    host = url.raw_host.decode("ascii")
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    host_header = f"[{host}]" if ":" in host else host
    if url.port not in (None, _DEFAULT_PORTS[url.scheme]):
        host_header += f":{url.port}"
    headers = {**(headers or {}), "Host": host_header}
    last_error: httpx.ConnectError | None = None
    for address in addresses:
        pinned = url.copy_with(host=str(address))
        request = client.build_request(
            method, pinned, headers=headers, content=content, extensions=extensions, timeout=timeout
        )
        try:
            return client.send(request, stream=True)
        except httpx.ConnectError as exc:
            last_error = exc
        finally:
            client.cookies.clear()
    assert last_error is not None
    raise last_error


def is_public(address: Address) -> bool:
    """Whether `address` is an ordinary public address, looking inside IPv6 forms that carry IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and not is_public(embedded):
            return False
    return not (
        address.is_loopback or address.is_private or address.is_link_local or address.is_multicast
        or address.is_reserved or address.is_unspecified or address in _CGNAT or not address.is_global
    )


def _check(url: httpx.URL, allowed: AllowList, resolver: Resolver) -> list[Address]:
    # 1. The shape of the URL: scheme, host, no credentials.
    if url.scheme not in _DEFAULT_PORTS:
        shown = f"{url.scheme}:" if url.scheme else "a URL without a scheme"
        raise UrlNotAllowed(f"Only http and https URLs can be fetched, not {shown}.", hint=_HINT)
    if not url.raw_host:
        raise UrlNotAllowed("The URL has no host.", hint=_HINT)
    if url.userinfo:
        raise UrlNotAllowed("URLs with a user name or password are refused.", hint=_HINT)
    host = _normal_name(url.raw_host.decode("ascii"))
    if "%" in host:
        raise UrlNotAllowed("IPv6 addresses with a zone are refused.", hint=_HINT)
    host_allowed = allowed.allows_host(host)
    if host in _METADATA_NAMES and not host_allowed:
        raise UrlNotAllowed(f"{host} is a cloud metadata service and is refused.", hint=_HINT)

    # 2. The addresses the host stands for; localhost names are loopback without asking anyone.
    if host == "localhost" or host.endswith(".localhost"):
        addresses = list(_LOOPBACK)
    else:
        addresses = _literal_address(host) or _resolve(host, url.port or _DEFAULT_PORTS[url.scheme], resolver)

    # 3. Every address must be public or allowed.
    if not host_allowed:
        for address in addresses:
            if not is_public(address) and not allowed.allows_address(address):
                raise UrlNotAllowed(f"{_display_host(url)} is not a public address.", hint=_HINT)
    return addresses


def _literal_address(host: str) -> list[Address] | None:
    try:
        return [_unmapped(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        return [ipaddress.IPv4Address(socket.inet_aton(host))] if _LEGACY_IPV4.match(host) else None
    except OSError:
        return None


def _resolve(host: str, port: int, resolver: Resolver) -> list[Address]:
    try:
        infos = resolver(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise _not_found(host) from None
    addresses: list[Address] = []
    for family, _type, _proto, _canonname, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        try:
            address = _unmapped(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]))
        except ValueError:
            continue
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise _not_found(host)
    return addresses


def _unmapped(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _normal_name(host: str) -> str:
    return host.lower().rstrip(".")


def _display_host(url: httpx.URL) -> str:
    host = url.raw_host.decode("ascii")
    return f"[{host}]" if ":" in host else host


def _redirect_target(current: httpx.URL, location: str) -> httpx.URL:
    try:
        return current.join(location).copy_with(fragment=None)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise UrlFetchFailed("The server redirected to an invalid URL.", hint=_FINAL_HINT) from None


def _read_limited(response: httpx.Response, max_bytes: int, deadline: float, timeout: float) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    total = 0
    try:
        for chunk in response.iter_bytes():
            total += len(chunk)
            if total > max_bytes:
                raise _too_large(max_bytes)
            if time.monotonic() > deadline:
                raise _timed_out(timeout)
            chunks.append(chunk)
    except httpx.TimeoutException:
        raise _timed_out(timeout) from None
    except httpx.HTTPError:
        raise UrlFetchFailed("The download was cut short.", hint="Try again in a moment.") from None
    return b"".join(chunks)


def _not_found(host: str) -> UrlFetchFailed:
    return UrlFetchFailed(f"Could not find the host {host}.", hint="Check the spelling of the URL.")


def _too_large(max_bytes: int) -> UrlTooLarge:
    return UrlTooLarge(
        f"The file at that URL is larger than the limit of {max_bytes:,} bytes.",
        hint="Give a smaller file.",
    )


def _timed_out(timeout: float) -> UrlFetchFailed:
    return UrlFetchFailed(
        f"Fetching the URL took longer than {timeout:g} s.", hint="Try again, or give a faster address."
    )
