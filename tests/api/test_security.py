"""A real `photogen serve` against what a hostile web page or a careless operator can do:
DNS rebinding (foreign Host), cross-site requests (foreign Origin), framing and sniffing
(security headers), CDN-loaded docs, and API keys switching themselves off."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.databases import seed_database
from tests.serving import free_port, serve_process

APP_ORIGIN = "http://app.example:5173"  # the one other origin the shared server trusts (CORS)
EVIL = "http://evil.example"
SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "referrer-policy", "x-frame-options")


@dataclass
class Served:
    url: str
    port: int
    home: Path
    env: dict
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text()

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "photogen", *args], env=self.env, capture_output=True,
                              text=True, timeout=120)


def photogen_env(home: Path, models_dir: Path, **extra: str) -> dict:
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "models").exists():
        (home / "models").symlink_to(models_dir)
    if "PHOTOGEN_DATABASE_URL" not in extra:  # the session's migrated SQLite database
        seed_database(home, models_dir.parent)
    return {**os.environ, "PHOTOGEN_HOME": str(home), "PHOTOGEN_DEVICE": "cpu", "PHOTOGEN_OFFLINE": "1", **extra}


@contextmanager
def serving(env: dict, *args: str):
    """`photogen serve` with `env`, its log in the home folder."""
    home = Path(env["PHOTOGEN_HOME"])
    with serve_process(env, *args, log=home / f"serve-{len(list(home.glob('serve-*.log')))}.log") as process:
        yield Served(process.url, process.port, home, env, process.process, process.log)


@pytest.fixture(scope="module")
def open_server(tmp_path_factory, settings, tiny):
    """No keys, loopback only, one trusted CORS origin, no worker, and a --model of its own."""
    env = photogen_env(tmp_path_factory.mktemp("security") / "home", settings.models_dir,
                       PHOTOGEN_CORS_ORIGINS=f'["{APP_ORIGIN}"]')
    with serving(env, "--no-worker", "--model", "someone/some-model") as served:
        yield served


def post_upload(served: Served, photo: bytes, **headers: str) -> httpx.Response:
    return httpx.post(f"{served.url}/v1/uploads", files={"file": ("astronaut.jpg", photo, "image/jpeg")},
                      headers=headers, timeout=60)


def uploads(served: Served) -> list[dict]:
    return httpx.get(f"{served.url}/v1/uploads", timeout=30).json()


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and error["hint"]
    return error


# -- DNS rebinding: the Host header ----------------------------------------------------------------

def test_a_foreign_host_name_is_refused_and_local_names_are_answered(open_server):
    for host in ("evil.example", f"evil.example:{open_server.port}", "127.0.0.1.nip.io"):
        response = httpx.get(f"{open_server.url}/v1/me/export", headers={"Host": host}, timeout=30)
        assert_error(response, 421, "host_not_allowed")
        assert all(name in response.headers for name in SECURITY_HEADERS)
    for host in (f"localhost:{open_server.port}", f"127.0.0.1:{open_server.port}", "localhost", f"[::1]:{open_server.port}"):
        assert httpx.get(f"{open_server.url}/v1/health", headers={"Host": host}, timeout=30).status_code == 200


# -- cross-site requests: the Origin header --------------------------------------------------------

def test_a_cross_origin_upload_is_refused_and_stores_nothing(open_server, astronaut_jpeg):
    photo = astronaut_jpeg.read_bytes()
    before = uploads(open_server)
    blobs_before = sorted((open_server.home / "blobs").rglob("*"))
    assert_error(post_upload(open_server, photo, Origin=EVIL), 403, "cross_origin_refused")
    assert_error(post_upload(open_server, photo, Origin="null"), 403, "cross_origin_refused")
    assert_error(post_upload(open_server, photo, Referer=f"{EVIL}/page.html"), 403, "cross_origin_refused")
    assert_error(post_upload(open_server, photo, Origin=f"http://127.0.0.1:{open_server.port + 1}"), 403,
                 "cross_origin_refused")
    assert uploads(open_server) == before
    assert sorted((open_server.home / "blobs").rglob("*")) == blobs_before


def test_same_origin_and_non_browser_uploads_are_accepted(open_server, astronaut_jpeg):
    photo = astronaut_jpeg.read_bytes()
    same = post_upload(open_server, photo, Origin=open_server.url)
    assert same.status_code == 201, same.text
    by_referer = post_upload(open_server, photo, Referer=f"{open_server.url}/index.html")
    assert by_referer.status_code == 201, by_referer.text
    plain = post_upload(open_server, photo)  # curl, SDKs: no Origin, no Referer
    assert plain.status_code == 201, plain.text
    assert len(uploads(open_server)) >= 1
    deleted = httpx.delete(f"{open_server.url}/v1/uploads/{plain.json()['id']}", headers={"Origin": EVIL}, timeout=30)
    assert_error(deleted, 403, "cross_origin_refused")
    assert httpx.get(f"{open_server.url}/v1/uploads/{plain.json()['id']}", timeout=30).status_code == 200


def test_a_configured_cors_origin_passes_its_preflight_and_its_upload(open_server, astronaut_jpeg):
    preflight = httpx.options(f"{open_server.url}/v1/uploads", timeout=30, headers={
        "Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    upload = post_upload(open_server, astronaut_jpeg.read_bytes(), Origin=APP_ORIGIN)
    assert upload.status_code == 201 and upload.headers["access-control-allow-origin"] == APP_ORIGIN
    foreign = httpx.options(f"{open_server.url}/v1/uploads", timeout=30,
                            headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in foreign.headers
    read = httpx.get(f"{open_server.url}/v1/uploads", headers={"Origin": EVIL}, timeout=30)
    assert "access-control-allow-origin" not in read.headers


# -- headers and docs ---------------------------------------------------------------------------

@pytest.mark.parametrize("path, status", [("/v1/health", 200), ("/v1/jobs/no-such-job", 404), ("/", 200),
                                          ("/app.js", 200), ("/app.css", 200), ("/no-such-file.js", 404),
                                          ("/docs", 200), ("/v1", 200)])
def test_every_answer_carries_the_security_headers(open_server, path, status):
    response = httpx.get(f"{open_server.url}{path}", timeout=30)
    assert response.status_code == status
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"


def test_the_docs_load_nothing_from_other_hosts(open_server):
    for page in ("/docs", "/redoc"):
        html = httpx.get(f"{open_server.url}{page}", timeout=30).text
        assert not re.search(r"(https?:)?//[a-z0-9]", html, re.IGNORECASE), html
        assert "<script>" not in html  # no inline script: the page's policy allows none
        sources = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert sources
        for source in sources:
            assert source.startswith("/") and httpx.get(f"{open_server.url}{source}", timeout=30).status_code == 200
    start = httpx.get(f"{open_server.url}/docs/start.js", timeout=30).text
    assert "/openapi.json" in start and "validatorUrl: null" in start and "http" not in start


def test_get_v1_is_an_index_of_the_api(open_server):
    index = httpx.get(f"{open_server.url}/v1", timeout=30).json()
    assert index["links"] == {"health": "/v1/health", "docs": "/docs", "redoc": "/redoc", "openapi": "/openapi.json",
                              "ui": "/"}
    paths = {e["path"]: e["methods"] for e in index["endpoints"]}
    assert "POST" in paths["/v1/uploads"] and "GET" in paths["/v1/jobs/{job_id}"] and index["version"]


# -- serve options and logs ----------------------------------------------------------------------

def test_serve_model_and_no_worker_apply_and_each_request_and_job_change_is_logged(open_server, astronaut_jpeg):
    upload = post_upload(open_server, astronaut_jpeg.read_bytes()).json()
    secret_prompt = "a very private prompt 7c1f"
    job = httpx.post(f"{open_server.url}/v1/generations", json={"prompt": secret_prompt, "upload_id": upload["id"]},
                     timeout=30).json()
    assert job["request"]["model"] == "someone/some-model"  # --model
    assert httpx.post(f"{open_server.url}/v1/jobs/{job['id']}/cancel", timeout=30).status_code == 202
    assert httpx.get(f"{open_server.url}/v1/jobs/{job['id']}", timeout=30).json()["state"] == "canceled"  # no worker ran it
    deadline = time.monotonic() + 30
    while f"job {job['id']} canceled" not in open_server.output() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = open_server.output()
    assert f"job {job['id']} queued kind=generate owner=local" in log
    assert f"job {job['id']} canceled kind=generate owner=local" in log
    assert re.search(r'"POST /v1/generations HTTP/1.1" 202', log)
    assert secret_prompt not in log


# -- API keys never switch themselves off --------------------------------------------------------

def test_revoking_the_last_key_leaves_keys_required(tmp_path, settings, tiny):
    env = photogen_env(tmp_path / "home", settings.models_dir)
    with serving(env, "--no-worker") as served:
        assert httpx.get(f"{served.url}/v1/health", timeout=30).json()["auth"] is False
        created = served.cli("keys", "create", "--owner", "alice")
        assert created.returncode == 0, created.stderr
        key = created.stdout.strip()
        as_alice = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"{served.url}/v1/uploads", headers=as_alice, timeout=30).status_code == 200
        assert httpx.get(f"{served.url}/v1/uploads", timeout=30).status_code == 401
        key_id = served.cli("keys", "list").stdout.split()[0]
        assert served.cli("keys", "revoke", key_id).returncode == 0

        error = assert_error(httpx.get(f"{served.url}/v1/uploads", timeout=30), 401, "unauthorized")
        assert "photogen keys create" in error["hint"]
        assert_error(httpx.get(f"{served.url}/v1/uploads", headers=as_alice, timeout=30), 401, "unauthorized")
        health = httpx.get(f"{served.url}/v1/health", timeout=30).json()
        assert health["auth"] is True and health["auth_mode"] == "auto"
        assert "first API key" in health["auth_reason"]
    # and after a restart too: the decision is recorded, not recomputed from active keys
    with serving(env, "--no-worker") as served:
        assert httpx.get(f"{served.url}/v1/health", timeout=30).json()["auth"] is True
        assert httpx.get(f"{served.url}/v1/me/export", timeout=30).status_code == 401


def test_auth_required_by_configuration_refuses_everyone_until_a_key_exists(tmp_path, settings, tiny):
    env = photogen_env(tmp_path / "home", settings.models_dir, PHOTOGEN_AUTH="required")
    with serving(env, "--no-worker") as served:
        assert httpx.get(f"{served.url}/v1/health", timeout=30).json()["auth"] is True
        error = assert_error(httpx.get(f"{served.url}/v1/jobs", timeout=30), 401, "unauthorized")
        assert "photogen keys create" in error["hint"]


@pytest.mark.parametrize("extra", [{}, {"PHOTOGEN_AUTH": "off"}], ids=["no-keys", "auth-off"])
def test_serving_beyond_loopback_without_keys_is_refused(tmp_path, settings, tiny, extra):
    env = photogen_env(tmp_path / "home", settings.models_dir, **extra)
    port = str(free_port())
    done = subprocess.run([sys.executable, "-m", "photogen", "serve", "--host", "0.0.0.0", "--port", port],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert re.search(r"^error \[auth_required\]: .*anyone on the network", done.stderr, re.MULTILINE), done.stderr
    assert re.search(r"^\s*fix: .*--host 127\.0\.0\.1", done.stderr, re.MULTILINE)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2)


def test_auth_off_on_loopback_lets_everyone_in_even_after_keys(tmp_path, settings, tiny):
    env = photogen_env(tmp_path / "home", settings.models_dir)
    assert subprocess.run([sys.executable, "-m", "photogen", "keys", "create", "--owner", "bob"], env=env,
                          capture_output=True, timeout=120).returncode == 0
    with serving({**env, "PHOTOGEN_AUTH": "off"}, "--no-worker") as served:
        health = httpx.get(f"{served.url}/v1/health", timeout=30).json()
        assert (health["auth"], health["auth_mode"]) == (False, "off")
        assert httpx.get(f"{served.url}/v1/uploads", timeout=30).status_code == 200


# -- the model field and per-key limits, against the real server -------------------------------------

@pytest.fixture(scope="module")
def limited_server(tmp_path_factory, settings, tiny):
    """No keys (owner `local`), no worker, small limits, one operator-configured model."""
    home = tmp_path_factory.mktemp("limits") / "home"
    env = photogen_env(home, settings.models_dir, PHOTOGEN_UPLOADS_PER_MINUTE="3",
                       PHOTOGEN_MAX_ACTIVE_JOBS_PER_OWNER="2",
                       PHOTOGEN_MODELS=f'{{"studio": "{home / "models" / "tiny"}"}}')
    with serving(env, "--no-worker") as served:
        yield served


@pytest.mark.parametrize("model", ["/etc/passwd", "~", "~/.ssh/id_rsa", "../../models/tiny", "stabilityai/sd-turbo",
                                   "HOME", "file:///etc/passwd"])
def test_the_model_field_names_only_catalogue_models(limited_server, model):
    served = limited_server
    response = httpx.post(f"{served.url}/v1/generations", timeout=30,
                          json={"prompt": "a portrait", "upload_id": "no-such-upload", "model": model})
    error = assert_error(response, 422, "model_not_allowed")
    text = response.text
    assert str(served.home) not in text and os.path.expanduser("~") not in text and "/etc/" not in text.replace(model, "")
    assert "studio" in error["hint"] and "tiny" in error["hint"]  # the catalogue, by id
    listed = httpx.get(f"{served.url}/v1/models", timeout=30).json()
    assert {m["id"] for m in listed} == {"studio", "tiny"}
    assert str(served.home) not in httpx.get(f"{served.url}/v1/models", timeout=30).text
    assert httpx.get(f"{served.url}/v1/health", timeout=30).json()["models_loaded"] == []  # nothing was loaded


def test_limits_hold_without_keys_and_answer_429_with_retry_after(limited_server, astronaut_jpeg):
    served = limited_server
    photo = astronaut_jpeg.read_bytes()
    answers = [post_upload(served, photo) for _ in range(4)]
    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    assert_error(answers[3], 429, "rate_limited")
    assert 1 <= int(answers[3].headers["retry-after"]) <= 60
    upload_id = answers[0].json()["id"]
    jobs = [httpx.post(f"{served.url}/v1/generations", timeout=30,
                       json={"prompt": "a portrait", "upload_id": upload_id, "model": "studio", "steps": 2})
            for _ in range(3)]
    assert [j.status_code for j in jobs] == [202, 202, 429]  # no worker: both stay queued
    assert_error(jobs[2], 429, "rate_limited")
    assert int(jobs[2].headers["retry-after"]) >= 1
    queued = httpx.get(f"{served.url}/v1/jobs", timeout=30).json()
    assert len(queued) == 2
