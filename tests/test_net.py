"""URL fetching and webhook delivery against a local server; nothing here may leave 127.0.0.1.

Every test runs with `socket.create_connection` and `socket.socket.connect` wrapped: each attempt is
recorded, and one to anything but a loopback address literal is stopped before it happens and fails the test.
"""

from __future__ import annotations

import io
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from PIL import Image

from photogen.net.guard import UrlFetchFailed, UrlNotAllowed, UrlTooLarge, check_url, fetch_url
from photogen.net.webhooks import DeliveryAttempt, WebhookSender, sign, verify

PUBLIC_TEST_ADDRESS = "93.184.216.34"  # only ever handed to check_url, which does not connect


@pytest.fixture(autouse=True)
def connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    attempts: list[str] = []
    real_create, real_connect = socket.create_connection, socket.socket.connect

    def guard(host: str) -> None:
        try:
            loopback = ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise PermissionError(f"the test network guard stopped a connection to {host}")

    def create_connection(address, *args, **kwargs):
        guard(str(address[0]))  # before create_connection could look a name up
        return real_create(address, *args, **kwargs)

    def connect(sock, address):
        attempts.append(str(address[0]))
        guard(str(address[0]))
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket.socket, "connect", connect)
    yield attempts
    assert all(ipaddress.ip_address(host).is_loopback for host in attempts), attempts


class FakeResolver:
    """Answers from a table, like socket.getaddrinfo, and remembers what it was asked."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls: list[str] = []

    def __call__(self, host: str, port: int, *, type: int = 0) -> list[tuple]:
        self.calls.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "not in the test table")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in self.table[host]
        ]


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver(
        {
            "public.example": [PUBLIC_TEST_ADDRESS],
            "private.example": ["10.1.2.3"],
            "mixed.example": [PUBLIC_TEST_ADDRESS, "192.168.0.7"],
            "photos.example": ["127.0.0.1"],
        }
    )


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Site:
    base: str
    port: int
    routes: dict[str, Callable[[BaseHTTPRequestHandler], None]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


def reply(handler: BaseHTTPRequestHandler, status: int, body: bytes = b"", headers=None, sized=True) -> None:
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    if sized:
        handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture
def site() -> Iterator[Site]:
    holder: list[Site] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.serve()

        def do_POST(self) -> None:
            self.serve()

        def serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            holder[0].seen.append(Seen(self.command, self.path, dict(self.headers), body))
            route = holder[0].routes.get(self.path)
            if route is None:
                reply(self, 404, b"not here")
            else:
                route(self)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    holder.append(Site(base=f"http://127.0.0.1:{port}", port=port))
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield holder[0]
    holder[0].release.set()
    server.shutdown()
    server.server_close()
    thread.join()


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def redirect_to(location: str) -> Callable[[BaseHTTPRequestHandler], None]:
    return lambda handler: reply(handler, 302, headers={"Location": location})


REFUSED = [
    "http://127.0.0.1/photo.png",
    "http://localhost/photo.png",
    "http://rebind.localhost/",
    "http://10.0.0.5/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fd12:3456::1]/",
    "http://0.0.0.0/",
    "http://100.64.0.1/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[2002:7f00:1::1]/",  # 6to4 carrying 127.0.0.1
    "http://[64:ff9b::a00:1]/",  # NAT64 carrying 10.0.0.1
    "http://2130706433/",
    "http://0x7f.1/",
    "http://127.1/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://private.example/photo.png",
    "http://mixed.example/photo.png",
    "ftp://public.example/photo.png",
    "file:///etc/passwd",
    "gopher://public.example/",
    "javascript:alert(1)",
    "http://user:secret@public.example/photo.png",
    "http://user@public.example/photo.png",
    "http:///photo.png",
]


@pytest.mark.parametrize("url", REFUSED)
def test_refused_before_any_connection(url: str, resolver: FakeResolver, connections: list[str]) -> None:
    with pytest.raises(UrlNotAllowed) as info:
        fetch_url(url, max_bytes=1000, timeout=1.0, resolver=resolver)
    assert info.value.code == "url_not_allowed"
    assert info.value.hint
    assert "/etc" not in info.value.message and "secret" not in info.value.message
    assert connections == []
    assert set(resolver.calls) <= {"private.example", "mixed.example"}


def test_allow_list_lets_named_hosts_addresses_and_networks_through(resolver: FakeResolver) -> None:
    loopback = ipaddress.ip_address("127.0.0.1")
    assert check_url("http://127.0.0.1:8000/a", allow=["127.0.0.1"]) == [loopback]
    assert check_url("http://127.0.0.1/a", allow=["127.0.0.0/8"]) == [loopback]
    assert check_url("http://[::ffff:127.0.0.1]/a", allow=["127.0.0.1"]) == [loopback]
    assert check_url("http://localhost/a", allow=["LOCALHOST"]) == [loopback, ipaddress.ip_address("::1")]
    assert check_url("http://private.example/a", allow=["private.example"], resolver=resolver)
    with pytest.raises(UrlNotAllowed):
        check_url("http://10.0.0.1/a", allow=["127.0.0.1"])
    with pytest.raises(UrlNotAllowed):
        check_url("http://localhost/a", allow=["127.0.0.1"])  # ::1 is loopback too


def test_public_address_passes_check(resolver: FakeResolver) -> None:
    assert check_url("https://public.example/a.jpg", resolver=resolver) == [
        ipaddress.ip_address(PUBLIC_TEST_ADDRESS)
    ]


def test_unknown_host_is_a_fetch_failure(resolver: FakeResolver) -> None:
    with pytest.raises(UrlFetchFailed) as info:
        check_url("http://nowhere.example/", resolver=resolver)
    assert info.value.code == "url_fetch_failed"


def test_fetches_an_image_from_an_allowed_local_server(site: Site, connections: list[str]) -> None:
    image = png_bytes()
    site.routes["/photo.png"] = lambda h: reply(h, 200, image, {"Content-Type": "image/png"})
    fetched = fetch_url(f"{site.base}/photo.png", max_bytes=10_000, timeout=2.0, allow=["127.0.0.1"])
    assert fetched.data == image
    assert fetched.content_type == "image/png"
    assert fetched.final_url == f"{site.base}/photo.png"
    assert site.seen[0].headers["Host"] == f"127.0.0.1:{site.port}"
    assert connections == ["127.0.0.1"]


def test_connects_to_the_checked_address_with_the_host_name_in_the_header(
    site: Site, resolver: FakeResolver
) -> None:
    site.routes["/photo.png"] = lambda h: reply(h, 200, b"pixels")
    url = f"http://photos.example:{site.port}/photo.png"
    fetched = fetch_url(url, max_bytes=100, timeout=2.0, allow=["127.0.0.1"], resolver=resolver)
    assert fetched.data == b"pixels"
    assert resolver.calls == ["photos.example"]  # one lookup: nothing left for DNS rebinding to change
    assert site.seen[0].headers["Host"] == f"photos.example:{site.port}"


def test_https_sends_the_host_name_as_tls_server_name(resolver: FakeResolver) -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, content=b"ok")

    url = "https://photos.example/a.png"
    fetched = fetch_url(
        url, max_bytes=100, timeout=1.0, allow=["photos.example"], resolver=resolver,
        transport=httpx.MockTransport(answer),
    )
    assert fetched.data == b"ok" and fetched.final_url == url
    assert sent[0].url.host == "127.0.0.1"
    assert sent[0].headers["Host"] == "photos.example"
    assert sent[0].extensions["sni_hostname"] == "photos.example"


@pytest.mark.parametrize("sized", [True, False], ids=["content-length", "no-content-length"])
def test_oversize_body_is_refused(site: Site, sized: bool) -> None:
    site.routes["/big"] = lambda h: reply(h, 200, b"x" * 5000, sized=sized)
    with pytest.raises(UrlTooLarge) as info:
        fetch_url(f"{site.base}/big", max_bytes=1000, timeout=2.0, allow=["127.0.0.1"])
    assert info.value.code == "upload_too_large"


def test_redirect_is_followed_and_rechecked(site: Site) -> None:
    site.routes["/hop"] = redirect_to("/photo.png")
    site.routes["/photo.png"] = lambda h: reply(h, 200, b"pixels")
    fetched = fetch_url(f"{site.base}/hop", max_bytes=100, timeout=2.0, allow=["127.0.0.1"])
    assert fetched.data == b"pixels"
    assert fetched.final_url == f"{site.base}/photo.png"


@pytest.mark.parametrize(
    "target", ["http://10.0.0.1/photo.png", "http://169.254.169.254/latest/meta-data/", "http://[::1]/x"]
)
def test_redirect_to_a_disallowed_address_is_refused_before_connecting(
    site: Site, connections: list[str], target: str
) -> None:
    site.routes["/away"] = redirect_to(target)
    with pytest.raises(UrlNotAllowed):
        fetch_url(f"{site.base}/away", max_bytes=100, timeout=2.0, allow=["127.0.0.1"])
    assert connections == ["127.0.0.1"]
    assert [seen.path for seen in site.seen] == ["/away"]


def test_too_many_redirects(site: Site) -> None:
    site.routes["/loop"] = redirect_to("/loop")
    with pytest.raises(UrlFetchFailed) as info:
        fetch_url(f"{site.base}/loop", max_bytes=100, timeout=2.0, allow=["127.0.0.1"], max_redirects=3)
    assert "redirected" in info.value.message
    assert len(site.seen) == 4


def test_http_error_is_a_fetch_failure(site: Site) -> None:
    with pytest.raises(UrlFetchFailed) as info:
        fetch_url(f"{site.base}/missing", max_bytes=100, timeout=2.0, allow=["127.0.0.1"])
    assert "404" in info.value.message


def test_timeout_is_a_fetch_failure(site: Site) -> None:
    def slow(handler: BaseHTTPRequestHandler) -> None:
        site.release.wait(5)
        try:
            reply(handler, 200, b"late")
        except OSError:
            pass

    site.routes["/slow"] = slow
    started = time.monotonic()
    with pytest.raises(UrlFetchFailed) as info:
        fetch_url(f"{site.base}/slow", max_bytes=100, timeout=0.3, allow=["127.0.0.1"])
    assert time.monotonic() - started < 2
    assert "longer than 0.3 s" in info.value.message


SECRET = b"whsec-test"


def test_signature_verifies_and_tampering_fails() -> None:
    body = b'{"job":"j1","status":"done"}'
    header = sign(SECRET, 1_700_000_000, body)
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify(SECRET, header, body, now=1_700_000_100)
    assert not verify(SECRET, header, body + b" ", now=1_700_000_100)
    assert not verify(b"other", header, body, now=1_700_000_100)
    assert not verify(SECRET, header, body, now=1_700_000_301)
    assert not verify(SECRET, "t=abc,v1=00", body, now=1_700_000_000)
    assert not verify(SECRET, "", body)


def hook_sender(records: list[DeliveryAttempt], sleeps: list[float], **kwargs) -> WebhookSender:
    return WebhookSender(SECRET, record=records.append, sleep=sleeps.append, allow=["127.0.0.1"], **kwargs)


def test_delivery_retries_until_accepted_with_one_event_id(site: Site) -> None:
    answers = [500, 500, 200]
    site.routes["/hook"] = lambda h: reply(h, answers.pop(0), b"{}")
    records: list[DeliveryAttempt] = []
    sleeps: list[float] = []
    event = {"job": "j1", "status": "done"}
    assert hook_sender(records, sleeps).deliver(f"{site.base}/hook", event)
    assert [r.attempt for r in records] == [1, 2, 3]
    assert [r.status_code for r in records] == [500, 500, 200]
    assert [r.error for r in records] == ["HTTP 500", "HTTP 500", None]
    assert sleeps == [1, 5]
    event_ids = {seen.headers["Photogen-Event-Id"] for seen in site.seen}
    assert len(site.seen) == 3 and event_ids == {records[0].event_id}
    for seen in site.seen:
        assert seen.headers["Content-Type"] == "application/json"
        assert json.loads(seen.body) == event
        assert verify(SECRET, seen.headers["Photogen-Signature"], seen.body)


def test_blocked_webhook_records_one_failed_attempt_without_connecting(connections: list[str]) -> None:
    records: list[DeliveryAttempt] = []
    sleeps: list[float] = []
    assert not hook_sender(records, sleeps).deliver("http://169.254.169.254/hook", {"job": "j1"})
    assert len(records) == 1 and records[0].status_code is None and records[0].error
    assert sleeps == [] and connections == []


def test_client_errors_are_not_retried_and_refused_connections_are(site: Site) -> None:
    site.routes["/hook"] = lambda h: reply(h, 400)
    records: list[DeliveryAttempt] = []
    sleeps: list[float] = []
    assert not hook_sender(records, sleeps).deliver(f"{site.base}/hook", {"job": "j1"})
    assert [r.status_code for r in records] == [400] and sleeps == []

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    records.clear()
    assert not hook_sender(records, sleeps, delays=(0.5,)).deliver(f"http://127.0.0.1:{closed_port}/", {})
    assert [r.error for r in records] == ["could not connect", "could not connect"] and sleeps == [0.5]


def test_background_delivery_and_close(site: Site) -> None:
    site.routes["/hook"] = lambda h: reply(h, 204)
    records: list[DeliveryAttempt] = []
    sender = hook_sender(records, [])
    url = f"{site.base}/hook"
    futures = [sender.deliver_in_background(url, {"n": n}, event_id=f"e{n}") for n in range(3)]
    sender.close()
    assert [f.result(timeout=0) for f in futures] == [True, True, True]
    assert sorted(r.event_id for r in records) == ["e0", "e1", "e2"]
    with pytest.raises(RuntimeError):
        sender.deliver_in_background(f"{site.base}/hook", {})


def test_one_attempt_says_whether_another_may_help(site: Site) -> None:
    answers = [503, 400, 200]
    site.routes["/hook"] = lambda h: reply(h, answers.pop(0))
    sender = hook_sender([], [])
    url = f"{site.base}/hook"
    busy, refused, accepted = (sender.attempt(url, {"n": 1}, "e1", number) for number in (1, 2, 3))
    assert (busy.retryable, busy.delivered, busy.attempt) == (True, False, 1)
    assert (refused.retryable, refused.delivered, refused.error) == (False, False, "HTTP 400")
    assert (accepted.delivered, accepted.status_code, accepted.attempt) == (True, 200, 3)
    assert {seen.headers["Photogen-Event-Id"] for seen in site.seen} == {"e1"}
