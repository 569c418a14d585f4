"""Uploads by URL and webhooks, against real HTTP servers on 127.0.0.1 only."""

import http.server
import json
import threading
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from photogen.api.app import create_app
from photogen.net.webhooks import verify
from photogen.store.tables import WebhookDelivery
from tests.api.conftest import FAST, make_settings, wait_for


class Recorder(http.server.BaseHTTPRequestHandler):
    """Serves the photo on GET, records POSTed webhooks (failing the first one with 500)."""

    photo: bytes = b""
    posts: list = []
    fail_first = True

    def do_GET(self):  # noqa: N802
        if self.path == "/redirect-to-metadata":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(self.photo)))
        self.end_headers()
        self.wfile.write(self.photo)

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).posts.append((dict(self.headers), body))
        status = 500 if type(self).fail_first and len(type(self).posts) == 1 else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def local_server(astronaut_bytes):
    Recorder.photo, Recorder.posts = astronaut_bytes, []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def allowed_api(tmp_path, settings, tiny):
    server_settings = make_settings(
        tmp_path / "home", settings.models_dir, url_allowlist=["127.0.0.1"], webhook_retry_delays_s=[0.01, 0.01]
    )
    with TestClient(create_app(server_settings)) as client:
        yield client


def test_upload_by_url_from_an_allowed_host(allowed_api, local_server, astronaut_bytes):
    response = allowed_api.post("/v1/uploads", json={"url": f"{local_server}/photo.jpg"})
    assert response.status_code == 201, response.text
    assert response.json()["size_bytes"] == len(astronaut_bytes)
    assert response.json()["filename"] == "photo.jpg"  # the URL's last path part


def test_url_and_base64_uploads_record_a_filename(allowed_api, local_server, astronaut_bytes, astronaut_b64):
    import hashlib

    from tests.api.conftest import wait_for

    digest = hashlib.sha256(astronaut_bytes).hexdigest()
    # a URL's last path part, percent-decoded, its query left out
    by_url = allowed_api.post("/v1/uploads", json={"url": f"{local_server}/old%20prints/grandma.jpg?size=full"})
    assert by_url.json()["filename"] == "grandma.jpg"
    # a URL whose path names no file, and base64 without a name: a name derived from the SHA-256
    assert allowed_api.post("/v1/uploads", json={"url": f"{local_server}/"}).json()["filename"] == f"photo-{digest[:12]}.jpg"
    assert allowed_api.post("/v1/uploads", json={"image": astronaut_b64}).json()["filename"] == f"photo-{digest[:12]}.jpg"
    named = allowed_api.post("/v1/uploads", json={"image": astronaut_b64, "filename": "scan.jpg"})
    assert named.json()["filename"] == "scan.jpg"
    # photos sent with a generation are recorded the same way
    job = allowed_api.post("/v1/generations", json={"prompt": "a", "image_url": f"{local_server}/p/sister.jpg", **FAST})
    assert allowed_api.get(f"/v1/uploads/{job.json()['upload_id']}").json()["filename"] == "sister.jpg"
    inline = allowed_api.post("/v1/generations", json={"prompt": "a", "image": astronaut_b64, **FAST, "seed": 9})
    assert allowed_api.get(f"/v1/uploads/{inline.json()['upload_id']}").json()["filename"] == f"photo-{digest[:12]}.jpg"
    for answer in (job, inline):
        wait_for(allowed_api, answer.json()["id"])


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/x.jpg", "http://localhost/x.jpg", "http://10.0.0.5/x.jpg", "http://169.254.169.254/latest/",
     "http://[::1]/x.jpg", "file:///etc/passwd", "ftp://example.com/x.jpg"],
)
def test_refused_urls_never_connect(api, url, monkeypatch):
    import socket

    def no_connection(*args, **kwargs):
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(socket, "create_connection", no_connection)
    response = api.post("/v1/uploads", json={"url": url})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "url_not_allowed"
    generation = api.post("/v1/generations", json={"prompt": "a", "image_url": url})
    assert generation.json()["error"]["code"] == "url_not_allowed"


def test_a_redirect_to_a_blocked_address_is_refused(allowed_api, local_server):
    response = allowed_api.post("/v1/uploads", json={"url": f"{local_server}/redirect-to-metadata"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "url_not_allowed"


def test_a_callback_url_under_the_same_rules(api):
    response = api.post("/v1/generations", json={"prompt": "a", "image": "aGk=", "callback_url": "http://10.1.2.3/hook"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "url_not_allowed"


def test_completion_webhook_is_signed_retried_and_recorded(allowed_api, local_server, astronaut_b64):
    container = allowed_api.app.state.container
    job = allowed_api.post(
        "/v1/generations",
        json={"prompt": "a", "image": astronaut_b64, **FAST, "callback_url": f"{local_server}/hook"},
    ).json()
    assert wait_for(allowed_api, job["id"])["state"] == "succeeded"
    deadline = time.monotonic() + 10
    while len(Recorder.posts) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(Recorder.posts) == 2  # 500 first, then delivered
    (headers1, body1), (headers2, body2) = Recorder.posts
    assert headers1["Photogen-Event-Id"] == headers2["Photogen-Event-Id"] == f"{job['id']}.succeeded"
    assert verify(b"test-secret", headers2["Photogen-Signature"], body2)
    assert not verify(b"other-secret", headers2["Photogen-Signature"], body2)
    event = json.loads(body2)
    assert event["type"] == "job.succeeded" and event["job"]["id"] == job["id"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with container.db.session() as session:
            rows = list(session.scalars(select(WebhookDelivery).where(WebhookDelivery.job_id == job["id"])))
        if len(rows) == 2:
            break
        time.sleep(0.05)
    assert [(r.attempt, r.status_code) for r in sorted(rows, key=lambda r: r.attempt)] == [(1, 500), (2, 200)]
