"""A small Python client for the photogen REST API.

    from photogen.client import Client
    with Client("http://127.0.0.1:8000", api_key="pg_...") as client:
        job = client.generate("photo.jpg", prompt="studio headshot", image_strength=0.6, seed=1234, aspect_ratio="4:5")
        job = client.wait(job["id"], on_progress=lambda job: print(job["progress"]))
        for asset in client.outputs(job):
            client.download(asset["id"], f"{asset['id']}.png")

Requests that create something carry an Idempotency-Key, so the automatic retries on connection
errors never make a second job.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

TERMINAL = ("succeeded", "failed", "canceled")


class ApiError(Exception):
    """An error answer from the server: status, code, message and hint."""

    def __init__(self, status: int, code: str, message: str, hint: str = "") -> None:
        super().__init__(f"{status} {code}: {message}" + (f" ({hint})" if hint else ""))
        self.status, self.code, self.message, self.hint = status, code, message, hint


class Client:
    def __init__(self, base_url: str, api_key: str | None = None, *, timeout: float = 60.0, retries: int = 3,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport)
        self._retries = retries

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- transport ---------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(self._retries + 1):
            try:
                response = self._http.request(method, path, **kwargs)
                break
            except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError):
                if attempt == self._retries:
                    raise
                time.sleep(min(0.25 * 2**attempt, 4.0))
        self._raise_for(response)
        return response

    @staticmethod
    def _raise_for(response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        try:
            error = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            error = {"code": "http_error", "message": response.text[:200]}
        raise ApiError(response.status_code, error.get("code", "http_error"), error.get("message", ""), error.get("hint", ""))

    # -- API ---------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/v1/health").json()

    def upload(self, photo: str | Path | bytes, filename: str | None = None) -> dict[str, Any]:
        """Upload a file path or bytes; returns the upload with its preflight report."""
        data = Path(photo).read_bytes() if not isinstance(photo, bytes) else photo
        name = filename or (Path(photo).name if not isinstance(photo, bytes) else "upload")
        return self._request("POST", "/v1/uploads", files={"file": (name, data)}).json()

    def upload_url(self, url: str) -> dict[str, Any]:
        return self._request("POST", "/v1/uploads", json={"url": url}).json()

    def generate(self, source: str | Path | bytes | None = None, *, upload_id: str | None = None,
                 image_url: str | None = None, idempotency_key: str | None = None, **fields: Any) -> dict[str, Any]:
        """Start a job from a photo (path or bytes, sent base64), an upload id or an image URL."""
        body = dict(fields)
        if source is not None:
            data = source if isinstance(source, bytes) else Path(source).read_bytes()
            body["image"] = base64.b64encode(data).decode()
        if upload_id is not None:
            body["upload_id"] = upload_id
        if image_url is not None:
            body["image_url"] = image_url
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        return self._request("POST", "/v1/generations", json=body, headers=headers).json()

    def job(self, job_id: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/jobs/{job_id}").json()

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._request("POST", f"/v1/jobs/{job_id}/cancel").json()

    def wait(self, job_id: str, *, timeout: float = 600.0, poll_s: float = 0.25,
             on_progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """The job once it has ended, woken by its live events (GET /v1/jobs/{id}/events) rather than by polling; a
        stream that drops is opened again after `poll_s` with Last-Event-ID, so no event is missed. `on_progress`
        sees the job at each change of state or step (the last time with its outputs)."""
        deadline = time.monotonic() + timeout
        job = self.job(job_id)
        seen, after = None, None

        def tell(current: dict[str, Any]) -> None:
            nonlocal seen
            mark = (current["state"], current["progress"]["step"])
            if on_progress is not None and mark != seen:
                on_progress(current)
            seen = mark

        tell(job)
        while job["state"] not in TERMINAL:
            try:
                for event in self._events(job_id, after, max(1.0, deadline - time.monotonic())):
                    after = event.get("seq", after)
                    if event.get("event") == "progress" and "step" in event:
                        job = {**job, "progress": {**job["progress"], "step": event["step"],
                                                   "total": event.get("total", job["progress"]["total"])}}
                    elif event.get("event") == "state" and event.get("state"):
                        job = {**job, "state": event["state"]}
                    if job["state"] in TERMINAL:
                        break
                    tell(job)
                    if time.monotonic() > deadline:
                        break
            except (httpx.TransportError, ValueError):
                time.sleep(poll_s)  # the stream dropped: opened again below, after the last event seen
            if job["state"] in TERMINAL:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['state']} after {timeout:.0f} s")
        job = self.job(job_id)  # the whole record: outputs, scores, timings
        tell(job)
        return job

    def _events(self, job_id: str, after: int | None, read_s: float) -> Iterator[dict[str, Any]]:
        """The job's events as the server sends them (from after `after`, when given), until the stream ends."""
        headers = {"Last-Event-ID": str(after)} if after is not None else {}
        timeout = httpx.Timeout(self._http.timeout.connect, read=read_s)
        with self._http.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers, timeout=timeout) as stream:
            if stream.status_code >= 400:
                stream.read()
                self._raise_for(stream)
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    yield json.loads(line[5:])

    @staticmethod
    def outputs(job: dict[str, Any]) -> list[dict[str, Any]]:
        return [a for a in job["assets"] if a["kind"] == "output"]

    def asset(self, asset_id: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/assets/{asset_id}").json()

    def download(self, asset_id: str, path: str | Path | None = None) -> bytes:
        data = self._request("GET", f"/v1/assets/{asset_id}/content").content
        if path is not None:
            Path(path).write_bytes(data)
        return data

    def lineage(self, asset_id: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/assets/{asset_id}/lineage").json()

    def delete_upload(self, upload_id: str) -> dict[str, Any]:
        return self._request("DELETE", f"/v1/uploads/{upload_id}").json()
