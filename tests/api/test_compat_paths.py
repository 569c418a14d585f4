"""The compatibility paths' edges, in process and without a worker, so jobs stay queued and every wait ends at its
limit: each API's own error shape, unknown fields ignored and recorded, wrong types refused, and no way around
keys, owners, the model catalogue, the model's capabilities, validation or the per-owner limits.

The real clients run against a real server in test_compat_clients.py."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from photogen.api.app import create_app
from tests.api.conftest import make_settings


@dataclass
class Compat:
    client: TestClient
    keys: dict[str, str]

    def bearer(self, owner: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[owner]}"}

    def basic(self, owner: str, user: str = "anyone") -> dict[str, str]:
        token = base64.b64encode(f"{user}:{self.keys[owner]}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def uploads(self, owner: str) -> list[dict]:
        return self.client.get("/v1/uploads", headers=self.bearer(owner)).json()

    def jobs(self, owner: str) -> list[dict]:
        return self.client.get("/v1/jobs", headers=self.bearer(owner)).json()


@pytest.fixture
def compat(tmp_path, settings, tiny):
    """No worker, no wait on /v1/image-to-image, a fifth of a second on the paths without a 202, two active jobs
    per owner; keys for alice and bob."""
    server = make_settings(tmp_path / "home", settings.models_dir, worker_enabled=False, sync_wait_s=0,
                           sync_wait_max_s=0.2, max_active_jobs_per_owner=2, models={"klein": "tiny-flux2-klein"})
    with TestClient(create_app(server)) as client:
        keys = client.app.state.container.keys
        yield Compat(client, {"alice": keys.create("alice").key, "bob": keys.create("bob").key})


@pytest.fixture(scope="module")
def photo() -> bytes:
    """A small real photo (the astronaut at 96 px), quick to check at intake."""
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).resize((96, 96)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def other_photo() -> bytes:
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.coffee()).resize((96, 64)).save(buffer, "PNG")
    return buffer.getvalue()


def how_to(photo: bytes, **extra) -> dict:
    return {"prompt": "Professional headshot", "image": base64.b64encode(photo).decode(), "image_strength": 0.75,
            "seed": 1234, "aspect_ratio": "4:5", "steps": 4, **extra}


def img2img(photo: bytes, **extra) -> dict:
    return {"init_images": [base64.b64encode(photo).decode()], "prompt": "a portrait", "steps": 4, **extra}


def edit(compat: Compat, owner: str, images: list[bytes], **fields) -> object:
    files = [("image" if len(images) == 1 else "image[]", (f"p{i}.png", data, "image/png"))
             for i, data in enumerate(images)]
    return compat.client.post("/v1/images/edits", headers=compat.bearer(owner),
                              data={"prompt": "make it a studio portrait", **fields}, files=files)


def openai_error(response, status: int, code: str, param: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code and error["message"] and error["param"] == param
    assert error["type"] == ("server_error" if status >= 500 else "invalid_request_error")
    return error


def sdapi_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()
    assert set(error) == {"error", "detail", "body", "errors"} and error["error"] == code and error["detail"]
    return error


def photogen_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "hint"} and error["code"] == code and error["hint"]
    return error


def test_image_to_image_answers_202_with_the_job_and_its_location_and_records_unknown_fields(compat, photo):
    body = how_to(photo, style_preset="photographic", cfg_scale=7)  # fields of other hosted APIs
    response = compat.client.post("/v1/image-to-image", json=body,
                                  headers={**compat.bearer("alice"), "Prefer": "wait=30"})
    assert response.status_code == 202, response.text
    assert response.headers["preference-applied"] == "wait=0.2"  # capped at PHOTOGEN_SYNC_WAIT_MAX_S
    answer = response.json()
    job = answer["job"]
    assert answer["images"] == [] and job["state"] == "queued"
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["via"] == {"path": "/v1/image-to-image", "ignored_fields": ["cfg_scale", "style_preset"], "user": None}
    request = job["request"]
    assert (request["image_strength"], request["seed"], request["aspect_ratio"]) == (0.75, 1234, "4:5")
    followed = compat.client.get(response.headers["location"], headers=compat.bearer("alice")).json()
    assert followed["id"] == job["id"] and followed["via"]["ignored_fields"] == ["cfg_scale", "style_preset"]
    plain = compat.client.post("/v1/generations", json=how_to(photo), headers=compat.bearer("alice")).json()
    assert plain["via"] is None  # the /v1 API's own jobs record no origin


def test_each_path_refuses_a_wrong_type_in_its_own_error_shape_and_stores_nothing(compat, photo):
    response = compat.client.post("/v1/image-to-image", json=how_to(photo, seed="many"), headers=compat.bearer("alice"))
    assert photogen_error(response, 422, "invalid_request")["message"].startswith("seed:")
    response = edit(compat, "alice", [photo], n="many")
    openai_error(response, 400, "invalid_request", param="n")
    assert response.headers["x-should-retry"] == "false"  # the OpenAI SDK would otherwise retry
    response = compat.client.post("/sdapi/v1/img2img", json=img2img(photo, steps="many"), headers=compat.basic("alice"))
    assert "steps" in sdapi_error(response, 422, "invalid_request")["detail"]
    response = compat.client.post("/sdapi/v1/img2img", json=img2img(photo, init_images="not a list"),
                                  headers=compat.basic("alice"))
    assert "init_images" in sdapi_error(response, 422, "invalid_request")["detail"]
    response = compat.client.post("/v1/images/edits", headers=compat.bearer("alice"),
                                  data={"prompt": "x", "image": "text, not a file"})
    openai_error(response, 400, "invalid_request", param="image")
    broken = compat.client.post("/sdapi/v1/img2img", json=img2img(b"not a photo"), headers=compat.basic("alice"))
    assert broken.status_code in (400, 413, 415, 422) and set(broken.json()) == {"error", "detail", "body", "errors"}
    assert compat.uploads("alice") == [] and compat.jobs("alice") == []


def test_keys_and_owners_hold_on_every_path(compat, photo):
    client = compat.client
    photogen_error(client.post("/v1/image-to-image", json=how_to(photo)), 401, "unauthorized")
    openai_error(client.post("/v1/images/edits", data={"prompt": "x"},
                             files=[("image", ("p.png", photo, "image/png"))]), 401, "unauthorized")
    refused = client.get("/sdapi/v1/samplers")
    sdapi_error(refused, 401, "unauthorized")
    assert refused.headers["www-authenticate"].startswith("Basic")  # what AUTOMATIC1111's clients answer to
    wrong = {"Authorization": "Basic " + base64.b64encode(b"alice:not-the-key").decode()}
    sdapi_error(client.get("/sdapi/v1/sd-models", headers=wrong), 401, "unauthorized")
    sdapi_error(client.get("/sdapi/v1/sd-models", headers={"Authorization": "Basic %%%"}), 401, "unauthorized")
    for headers in (compat.basic("alice"), compat.basic("alice", user=""), compat.bearer("alice")):
        assert client.get("/sdapi/v1/samplers", headers=headers).status_code == 200
    # alice's img2img waits a fifth of a second (no worker here), answers 504, and its job stays hers
    waited = client.post("/sdapi/v1/img2img", json=img2img(photo), headers=compat.basic("alice"))
    error = sdapi_error(waited, 504, "job_still_running")
    job_id = compat.jobs("alice")[0]["id"]
    assert f"/v1/jobs/{job_id}" in error["detail"]
    assert client.get(f"/v1/jobs/{job_id}", headers=compat.bearer("bob")).status_code == 404
    assert client.get("/sdapi/v1/progress", headers=compat.basic("bob")).json()["state"]["job_count"] == 0
    assert client.get("/sdapi/v1/progress", headers=compat.basic("alice")).json()["state"]["job_count"] == 1
    assert client.post("/sdapi/v1/interrupt", headers=compat.basic("bob")).json() == {}
    assert compat.jobs("alice")[0]["state"] == "queued"  # bob's interrupt is not alice's
    assert client.post("/sdapi/v1/interrupt", headers=compat.basic("alice")).json() == {}
    assert compat.jobs("alice")[0]["state"] == "canceled"


def test_the_catalogue_and_the_models_capabilities_hold(compat, photo, other_photo):
    openai_error(edit(compat, "alice", [photo], model="/etc/passwd"), 400, "model_not_allowed")
    response = compat.client.post("/sdapi/v1/img2img", headers=compat.basic("alice"),
                                  json=img2img(photo, override_settings={"sd_model_checkpoint": "~/models/x"}))
    sdapi_error(response, 422, "model_not_allowed")
    response = compat.client.post("/v1/image-to-image", json=how_to(photo, model="someone/else"),
                                  headers=compat.bearer("alice"))
    photogen_error(response, 422, "model_not_allowed")
    # a second image is a reference image: tiny takes none, klein up to three
    error = openai_error(edit(compat, "alice", [photo, other_photo]), 400, "unsupported_control", param="image")
    assert "'tiny'" in error["message"] and "GET /v1/models" in error["message"]
    openai_error(edit(compat, "alice", [photo] + [other_photo] * 4, model="klein"), 400, "unsupported_control",
                 param="image")
    openai_error(edit(compat, "alice", [photo], mask="x"), 400, "invalid_request", param="mask")
    unknown = sdapi_error(compat.client.post("/sdapi/v1/img2img", json=img2img(photo, sampler_name="Heun"),
                                             headers=compat.basic("alice")), 422, "unknown_sampler")
    assert all(name in unknown["detail"] for name in ("Euler a", "DPM++ 2M", "DDIM", "LMS", "PLMS"))
    response = compat.client.post("/sdapi/v1/img2img", headers=compat.basic("alice"),
                                  json=img2img(photo, sampler_name="Euler a",
                                               override_settings={"sd_model_checkpoint": "klein"}))
    assert "scheduler" in sdapi_error(response, 422, "unsupported_control")["detail"]
    response = compat.client.post("/sdapi/v1/img2img", json=img2img(photo, prompt=""), headers=compat.basic("alice"))
    assert sdapi_error(response, 422, "invalid_request")["detail"].startswith("prompt:")
    assert compat.uploads("alice") == [] and compat.jobs("alice") == []  # nothing refused was kept


def test_openai_edits_map_their_fields_and_record_the_rest(compat, photo, other_photo):
    response = edit(compat, "alice", [photo, other_photo], model="klein", size="1536x1024", n="2", user="end-user-7",
                    quality="high", background="opaque")
    error = openai_error(response, 504, "job_still_running")  # no worker here: the job stays queued
    assert response.headers["x-should-retry"] == "false"
    job = compat.jobs("alice")[0]
    assert job["id"] in error["message"]
    request = job["request"]
    assert (request["model"], request["width"], request["height"], request["num_images"]) == ("klein", 1536, 1024, 2)
    assert request["image_strength"] is None  # klein edits by instruction: no image strength
    assert request["steps"] == 50 and request["guidance"] == 4.0  # the model's own defaults
    assert request["references"] == [__import__("hashlib").sha256(other_photo).hexdigest()]
    assert job["via"] == {"path": "/v1/images/edits", "ignored_fields": ["background", "quality"],
                          "user": "end-user-7"}
    edit(compat, "alice", [photo], model="gpt-image-1")  # OpenAI's own model names mean the default model
    job = compat.jobs("alice")[0]
    assert job["request"]["model"] == "tiny" and job["request"]["image_strength"] == 0.5  # the recipes' default
    assert job["via"]["ignored_fields"] == ["model"]


def test_sdapi_maps_its_fields_and_records_the_rest(compat, photo):
    body = img2img(photo, negative_prompt="blurry", denoising_strength=0.7, seed=-1, cfg_scale=5.5, width=128,
                   height=96, batch_size=2, n_iter=2, sampler_name="k_euler_a", styles=[], restore_faces=False,
                   override_settings={"sd_model_checkpoint": "tiny.safetensors [0123abcd]", "CLIP_stop_at_last_layers": 2})
    sdapi_error(compat.client.post("/sdapi/v1/img2img", json=body, headers=compat.basic("alice")), 504,
                "job_still_running")
    job = compat.jobs("alice")[0]
    request = job["request"]
    assert request["image_strength"] == 0.3  # 1 - denoising_strength
    assert (request["guidance"], request["width"], request["height"]) == (5.5, 128, 96)
    assert (request["num_images"], request["scheduler"], request["model"]) == (4, "euler_a", "tiny")
    assert request["seed"] is not None and request["negative_prompt"] == "blurry"  # -1 picked one
    assert job["via"]["ignored_fields"] == ["override_settings.CLIP_stop_at_last_layers", "restore_faces", "styles"]
    samplers = compat.client.get("/sdapi/v1/samplers", headers=compat.basic("alice")).json()
    assert {"name": "Euler a", "aliases": ["euler_a", "k_euler_a", "k_euler_ancestral"], "options": {}} in samplers
    models = compat.client.get("/sdapi/v1/sd-models", headers=compat.basic("alice")).json()
    assert {m["title"] for m in models} == {"tiny", "klein"} and all("/" not in m["filename"] for m in models)
    progress = compat.client.get("/sdapi/v1/progress", headers=compat.basic("alice")).json()
    assert progress["state"]["job_count"] == 1 and progress["progress"] == 0.0  # queued, not started


def test_the_per_owner_limits_hold_on_every_path_in_its_shape(compat, photo):
    for _ in range(2):  # the two active jobs alice may have
        assert compat.client.post("/v1/image-to-image", json=how_to(photo),
                                  headers=compat.bearer("alice")).status_code == 202
    stored = len(compat.uploads("alice"))
    refused = compat.client.post("/v1/image-to-image", json=how_to(photo), headers=compat.bearer("alice"))
    photogen_error(refused, 429, "rate_limited")
    assert int(refused.headers["retry-after"]) > 0
    refused = edit(compat, "alice", [photo])
    openai_error(refused, 429, "rate_limited")
    assert "x-should-retry" not in refused.headers and int(refused.headers["retry-after"]) > 0
    refused = compat.client.post("/sdapi/v1/img2img", json=img2img(photo), headers=compat.basic("alice"))
    sdapi_error(refused, 429, "rate_limited")
    assert len(compat.uploads("alice")) == stored and len(compat.jobs("alice")) == 2
    assert compat.client.post("/v1/image-to-image", json=how_to(photo),
                              headers=compat.bearer("bob")).status_code == 202  # the limit is alice's alone


def test_a_body_past_the_limit_gets_413_in_the_paths_shape(tmp_path, settings, tiny):
    server = make_settings(tmp_path / "home", settings.models_dir, worker_enabled=False, max_upload_bytes=10_000)
    with TestClient(create_app(server)) as client:
        files = [("image", ("big.png", b"0" * 1_000_000, "image/png"))]  # past nine photos of 10 kB
        openai_error(client.post("/v1/images/edits", data={"prompt": "x"}, files=files), 413, "request_too_large")
        big = {"init_images": ["A" * 200_000], "prompt": "x"}
        sdapi_error(client.post("/sdapi/v1/img2img", json=big), 413, "request_too_large")
        photogen_error(client.post("/v1/image-to-image", json={"prompt": "x", "image": "A" * 200_000}), 413,
                       "request_too_large")
