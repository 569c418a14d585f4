"""Signed completion callbacks.

A delivery POSTs the event as JSON with two headers:
- `Photogen-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`. Receivers check it with
  `verify` (or the same few lines in their own language) and refuse timestamps more than five minutes off.
- `Photogen-Event-Id`: the same on every retry of one event, so receivers can drop duplicates.

Targets pass through `check_url` like any URL a person gives us, and the request goes to the checked
address. A refused target is recorded once and not retried. Connection errors, timeouts, 5xx and 429
answers are retried after each of `delays` seconds in turn; any other answer is final (redirects are not
followed). Every attempt is passed to `record`.

`attempt` makes one POST and says whether another try may help; the server's durable outbox
(services/webhook_outbox.py) schedules its retries in the database with it, so restarts lose none.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from photogen.net.guard import (
    AllowList,
    Resolver,
    UrlFetchFailed,
    UrlNotAllowed,
    check_url,
    http_client,
    parse_url,
    send_pinned,
)

SIGNATURE_HEADER = "Photogen-Signature"
EVENT_ID_HEADER = "Photogen-Event-Id"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryAttempt:
    url: str
    event_id: str
    attempt: int
    status_code: int | None
    error: str | None
    duration_s: float
    retryable: bool = False  # a connection error, timeout, 5xx or 429: another try may help

    @property
    def delivered(self) -> bool:
        return self.error is None


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The `Photogen-Signature` header value for `body` sent at `timestamp` (unix seconds)."""
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify(
    secret: bytes, header: str, body: bytes, *, tolerance_s: float = 300, now: float | None = None
) -> bool:
    """Whether `header` signs `body` with `secret` at a time within `tolerance_s` of `now`."""
    timestamp, signatures = _parse_signature(header)
    if timestamp is None or not signatures:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = _digest(secret, timestamp, body).encode()
    matches = [hmac.compare_digest(expected, signature.encode()) for signature in signatures]
    return any(matches)


class WebhookSender:
    """Delivers events to webhook URLs, retrying with backoff, and records every attempt.

    `record` is called on the delivering thread, a pool thread for `deliver_in_background`.
    """

    def __init__(
        self,
        secret: bytes,
        *,
        record: Callable[[DeliveryAttempt], None] = lambda attempt: None,
        allow: Sequence[str] = (),
        timeout: float = 5.0,
        delays: Sequence[float] = (1, 5, 25, 125),
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        resolver: Resolver = socket.getaddrinfo,
        max_workers: int = 4,
    ) -> None:
        if not secret:
            raise ValueError("a webhook secret must not be empty")
        self._secret = secret
        self._record = record
        self._allow = AllowList.parse(allow)
        self._timeout = timeout
        self._delays = tuple(delays)
        self._transport = transport
        self._sleep = sleep
        self._resolver = resolver
        self._max_workers = max_workers
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False

    def deliver(self, url: str, event: dict[str, Any], *, event_id: str | None = None) -> bool:
        """POST `event` to `url` until it is accepted or the retries run out; True when a 2xx came back."""
        event_id = event_id or uuid.uuid4().hex
        waits: tuple[float | None, ...] = (*self._delays, None)
        for number, wait in enumerate(waits, start=1):
            outcome = self.attempt(url, event, event_id, number)
            self._record(outcome)
            if outcome.delivered:
                return True
            if not outcome.retryable or wait is None:
                return False
            self._sleep(wait)
        return False

    def attempt(self, url: str, event: dict[str, Any], event_id: str, number: int) -> DeliveryAttempt:
        """One signed POST of `event` (attempt `number`); the caller records it and decides about retries."""
        return self._attempt(url, event_id, number, encode_event(event))

    def deliver_in_background(
        self, url: str, event: dict[str, Any], *, event_id: str | None = None
    ) -> Future[bool]:
        """`deliver` on the sender's thread pool; the future holds its result."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this WebhookSender is closed")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._max_workers, thread_name_prefix="photogen-webhook")
            return self._pool.submit(self._deliver_logged, url, event, event_id)

    def close(self) -> None:
        """Refuse new background deliveries and wait for the ones under way."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _deliver_logged(self, url: str, event: dict[str, Any], event_id: str | None) -> bool:
        try:
            return self.deliver(url, event, event_id=event_id)
        except Exception:  # a background thread has no caller to raise to
            logger.exception("webhook delivery to %s failed", url)
            return False

    def _attempt(self, url: str, event_id: str, attempt: int, body: bytes) -> DeliveryAttempt:
        """One POST: what to record, including whether another try may help."""
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        retry = False
        try:
            addresses = check_url(url, allow=self._allow, resolver=self._resolver)
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "photogen-webhooks",
                SIGNATURE_HEADER: sign(self._secret, int(time.time()), body),
                EVENT_ID_HEADER: event_id,
            }
            with http_client(self._transport) as client:
                target = parse_url(url)
                response = send_pinned(
                    client, "POST", target, addresses, timeout=self._timeout, headers=headers, content=body
                )
                response.close()
            status = response.status_code
            if not response.is_success:
                error = f"HTTP {status}"
                retry = status >= 500 or status == 429
        except UrlNotAllowed as exc:
            error = exc.message
        except UrlFetchFailed as exc:
            error, retry = exc.message, True
        except httpx.TimeoutException:
            error, retry = f"no answer within {self._timeout:g} s", True
        except httpx.ConnectError:
            error, retry = "could not connect", True
        except httpx.HTTPError as exc:
            error, retry = f"connection failed ({type(exc).__name__})", True
        return DeliveryAttempt(url, event_id, attempt, status, error, time.monotonic() - started, retryable=retry)


def encode_event(event: dict[str, Any]) -> bytes:
    """The exact bytes POSTed (and signed) for `event`."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


def _digest(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def _parse_signature(header: str) -> tuple[int | None, list[str]]:
    timestamps: list[int] = []
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit():
            timestamps.append(int(value))
        elif key == "v1" and value:
            signatures.append(value)
    if len(timestamps) != 1:
        return None, []
    return timestamps[0], signatures
