"""A real `photogen serve` process, driven by the Python client."""

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from photogen.client import ApiError, Client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def served(tmp_path, settings, tiny):
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(settings.models_dir)
    port = free_port()
    env = {**os.environ, "PHOTOGEN_HOME": str(home), "PHOTOGEN_DEVICE": "cpu", "PHOTOGEN_OFFLINE": "1"}
    # Listening beyond loopback needs API keys: create one first, as the refusal's fix says.
    created = subprocess.run([sys.executable, "-m", "photogen", "keys", "create", "--owner", "alice"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stderr
    api_key = created.stdout.strip()
    process = subprocess.Popen(
        [sys.executable, "-m", "photogen", "serve", "--port", str(port), "--host", "0.0.0.0"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    with Client(url, retries=0) as probe:
        while True:
            try:
                probe.health()
                break
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    raise AssertionError(process.stdout.read())
                time.sleep(0.2)
    yield url, process, api_key
    process.terminate()
    process.wait(timeout=30)


class CutsTheFirstEventStream(httpx.HTTPTransport):
    """Cuts a job's first event stream after its first chunk, as a proxy or a network hiccup would; records the
    Last-Event-ID each event stream was opened with."""

    def __init__(self) -> None:
        super().__init__()
        self.opened_after: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if not request.url.path.endswith("/events"):
            return response
        self.opened_after.append(request.headers.get("last-event-id"))
        if len(self.opened_after) > 1:
            return response
        inner = response.stream

        class Cut(httpx.SyncByteStream):
            def __iter__(self):
                for chunk in inner:
                    yield chunk
                    raise httpx.ReadError("the stream was cut")

            def close(self) -> None:
                inner.close()

        return httpx.Response(response.status_code, headers=response.headers, stream=Cut(),
                              extensions=response.extensions)


def test_serve_runs_the_seed_style_payload_end_to_end_through_the_client(served, astronaut_jpeg, tmp_path):
    url, process, api_key = served
    transport = CutsTheFirstEventStream()
    with Client(url, api_key=api_key, transport=transport) as client:
        assert client.health()["auth"] is True
        job = client.generate(astronaut_jpeg, prompt="studio headshot", image_strength=0.5, seed=1234,
                              aspect_ratio="4:5", steps=4, num_images=2)
        seen = []
        job = client.wait(job["id"], on_progress=lambda j: seen.append((j["state"], j["progress"]["step"])))
        assert job["state"] == "succeeded"
        assert seen[-1] == ("succeeded", 2)
        outputs = client.outputs(job)
        assert len(outputs) == 2
        data = client.download(outputs[1]["id"], tmp_path / "out.png")
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "out.png").read_bytes() == data
        assert client.lineage(outputs[0]["id"])["job"]["id"] == job["id"]
        with pytest.raises(ApiError) as caught:
            client.job("no-such-job")
        assert caught.value.status == 404 and caught.value.code == "not_found"
    process.terminate()
    output, _ = process.communicate(timeout=30)
    assert "API keys required" in output and "serving on http://0.0.0.0" in output
    # one access log line per request; the client waited on the job's events, not by polling: it read the job
    # before and after, and opened the stream again after the cut, from the last event it had
    assert output.count(f'"GET /v1/jobs/{job["id"]} HTTP/1.1" 200') == 2
    assert output.count(f'"GET /v1/jobs/{job["id"]}/events HTTP/1.1" 200') == 2
    assert transport.opened_after[0] is None and transport.opened_after[1].isdigit()


def test_the_client_retries_with_one_idempotency_key(astronaut_jpeg):
    import httpx

    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers["Idempotency-Key"])
        if len(calls) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(202, json={"id": "j1", "state": "queued"})

    with Client("http://photogen.test", transport=httpx.MockTransport(handler)) as client:
        assert client.generate(astronaut_jpeg, prompt="a")["id"] == "j1"
    assert len(calls) == 2 and calls[0] == calls[1]
