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
import time
import uuid
from collections.abc import Callable
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
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                error = {"code": "http_error", "message": response.text[:200]}
            raise ApiError(response.status_code, error.get("code", "http_error"), error.get("message", ""), error.get("hint", ""))
        return response

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
        """Poll until the job ends; `on_progress` sees each change of state or step."""
        deadline, seen = time.monotonic() + timeout, None
        while True:
            job = self.job(job_id)
            mark = (job["state"], job["progress"]["step"])
            if on_progress is not None and mark != seen:
                on_progress(job)
            seen = mark
            if job["state"] in TERMINAL:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['state']} after {timeout:.0f} s")
            time.sleep(poll_s)

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
