"""Idempotency-Key retries with inline photos: the first job comes back and nothing is stored twice."""

import http.server
import threading
from typing import ClassVar

import pytest
from fastapi.testclient import TestClient

from photogen.api.app import create_app
from tests.api.conftest import FAST, make_settings, wait_for


def _counts(client) -> tuple[int, int]:
    container = client.app.state.container
    return len(container.uploads.list("local", 500)), len(container.blobs.keys())


def test_a_retried_base64_generation_returns_the_first_job_and_stores_nothing(api, astronaut_b64):
    body = {"prompt": "a portrait", "image": astronaut_b64, **FAST}
    first = api.post("/v1/generations", json=body, headers={"Idempotency-Key": "inline-1"})
    assert first.status_code == 202, first.text
    stored = _counts(api)
    again = api.post("/v1/generations", json=body, headers={"Idempotency-Key": "inline-1"})
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert _counts(api) == stored  # no second upload row, no new blob
    other = api.post("/v1/generations", json={**body, "prompt": "b"}, headers={"Idempotency-Key": "inline-1"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"
    assert _counts(api) == stored  # a conflicting request stores nothing either


def test_the_same_photo_by_upload_id_matches_the_digest(api, astronaut_b64):
    upload = api.post("/v1/uploads", json={"image": astronaut_b64}).json()
    body = {"prompt": "a", "upload_id": upload["id"], **FAST}
    first = api.post("/v1/generations", json=body, headers={"Idempotency-Key": "by-id"})
    again = api.post("/v1/generations", json=body, headers={"Idempotency-Key": "by-id"})
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]


def test_a_retry_by_upload_id_is_answered_where_a_new_request_would_be_refused(api, astronaut_b64):
    """A submission naming a stored upload looks its key up in the insert's transaction; a check before it that
    refuses (here: the model withdrawn meanwhile) still answers a retry with its first job."""
    from photogen.services.catalogue import ModelNotAllowed

    upload = api.post("/v1/uploads", json={"image": astronaut_b64}).json()
    body = {"prompt": "a", "upload_id": upload["id"], **FAST}
    first = api.post("/v1/generations", json=body, headers={"Idempotency-Key": "withdrawn"})
    assert first.status_code == 202, first.text

    def withdrawn(owner, request):
        raise ModelNotAllowed(f"model {request['model']} is withdrawn", hint="pick another model")

    api.app.state.container.jobs.admit_model = withdrawn
    again = api.post("/v1/generations", json=body, headers={"Idempotency-Key": "withdrawn"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    new = api.post("/v1/generations", json=body, headers={"Idempotency-Key": "new"})
    assert new.json()["error"]["code"] == "model_not_allowed"
    other = api.post("/v1/generations", json={**body, "prompt": "b"}, headers={"Idempotency-Key": "withdrawn"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"
    assert len(api.get("/v1/jobs").json()) == 1


def test_a_retried_sweep_with_an_inline_photo_returns_the_first_job(api, astronaut_b64):
    body = {"prompt": "a", "image": astronaut_b64, **FAST, "sweep": {"field": "image_strength", "values": [0.3, 0.5]}}
    first = api.post("/v1/sweeps", json=body, headers={"Idempotency-Key": "sweep-1"})
    assert first.status_code == 202, first.text
    stored = _counts(api)
    again = api.post("/v1/sweeps", json=body, headers={"Idempotency-Key": "sweep-1"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert _counts(api) == stored


class _PhotoServer(http.server.BaseHTTPRequestHandler):
    photo: bytes = b""
    gets: ClassVar[list] = []

    def do_GET(self):
        type(self).gets.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(self.photo)))
        self.end_headers()
        self.wfile.write(self.photo)

    def log_message(self, *args):
        pass


@pytest.fixture
def photo_url(astronaut_bytes):
    _PhotoServer.photo, _PhotoServer.gets = astronaut_bytes, []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PhotoServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/photo.jpg"
    server.shutdown()
    server.server_close()


def test_a_retried_image_url_generation_neither_fetches_nor_stores_again(tmp_path, settings, tiny, photo_url):
    server_settings = make_settings(tmp_path / "home", settings.models_dir, url_allowlist=["127.0.0.1"])
    with TestClient(create_app(server_settings)) as client:
        body = {"prompt": "a", "image_url": photo_url, **FAST}
        first = client.post("/v1/generations", json=body, headers={"Idempotency-Key": "url-1"})
        assert first.status_code == 202, first.text
        stored = _counts(client)
        again = client.post("/v1/generations", json=body, headers={"Idempotency-Key": "url-1"})
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
        assert _PhotoServer.gets == ["/photo.jpg"]
        assert _counts(client) == stored


def test_a_retried_upscale_answers_like_a_retried_generation(api, astronaut_b64):
    """200 with the first job (and what it made by then) for the same key and request; 409 for another request."""
    generated = wait_for(api, api.post("/v1/generations", json={"prompt": "a", "image": astronaut_b64, **FAST}).json()["id"])
    output = next(a for a in generated["assets"] if a["kind"] == "output")
    url, key = f"/v1/assets/{output['id']}/upscale", {"Idempotency-Key": "upscale-1"}
    first = api.post(url, json={"factor": 2, "method": "lanczos"}, headers=key)
    assert first.status_code == 202, first.text
    again = api.post(url, json={"factor": 2, "method": "lanczos"}, headers=key)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    done = wait_for(api, first.json()["id"])
    assert done["state"] == "succeeded" and [a["kind"] for a in done["assets"]] == ["upscale"]
    later = api.post(url, json={"factor": 2, "method": "lanczos"}, headers=key)
    assert later.status_code == 200 and later.json()["assets"] == done["assets"]
    other = api.post(url, json={"factor": 4, "method": "lanczos"}, headers=key)
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"
    assert len([j for j in api.get("/v1/jobs").json() if j["kind"] == "upscale"]) == 1
