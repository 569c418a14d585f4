"""Reference photos through the API: Qwen-Image-Edit-Plus (up to two references beside the source) and an SD model
with an IP-Adapter (references with a reference strength), described in GET /v1/models and run as jobs."""

from __future__ import annotations


import pytest
from fastapi.testclient import TestClient
from PIL import Image

from photogen.api.app import create_app
from tests.api.conftest import make_settings, upload_image, wait_for
from tests.engines.tiny_ip_adapter import build_tiny_ip_adapter

SMALL = {"seed": 21, "width": 64, "height": 64}


@pytest.fixture
def reference_api(tmp_path, settings, tiny, models):
    models.get("tiny-qwen-image-edit-plus")  # built once in the shared models folder
    weights = build_tiny_ip_adapter(tiny.pipeline.unet, tmp_path / "IP-Adapter", plus=True)
    catalogue = {"qwen": "tiny-qwen-image-edit-plus", "faces": {"model": "tiny", "ip_adapter": str(weights)}}
    server = make_settings(tmp_path / "home", settings.models_dir, models=catalogue)
    with TestClient(create_app(server)) as client:
        yield client


@pytest.fixture
def uploads(reference_api, astronaut_array):
    from skimage import data

    return {"source": upload_image(reference_api, Image.fromarray(astronaut_array)),
            "coffee": upload_image(reference_api, Image.fromarray(data.coffee())),
            "cat": upload_image(reference_api, Image.fromarray(data.chelsea()))}


def test_models_describe_both_families_from_configs(reference_api, container_of, tmp_path):
    response = reference_api.get("/v1/models")
    assert response.status_code == 200
    models = {m["id"]: m for m in response.json()}
    qwen, faces = models["qwen"], models["faces"]
    assert qwen["family"] == "qwen-image-edit-plus" and qwen["available"]
    assert qwen["capabilities"] == {
        "image_strength": False, "negative_prompt": True, "schedulers": ["default"], "native_size": [64, 64],
        "size_multiple": 8, "max_references": 2, "reference_strength": False, "default_reference_strength": None,
        "guidance": "cfg", "prompt_kind": "instruction", "default_guidance": 4.0, "default_steps": 40, "min_steps": 2,
        "max_angle": 45,
    }
    assert faces["family"] == "sd1" and faces["available"]
    caps = faces["capabilities"]
    assert caps["image_strength"] and caps["reference_strength"] and caps["max_references"] == 4
    assert caps["default_reference_strength"] == 0.6
    assert "base model's licence" in faces["commercial_use"]["conditions"]
    assert str(tmp_path) not in response.text and "IP-Adapter/models" not in response.text  # no server paths
    assert container_of(reference_api).models.loaded() == []


def test_an_ip_adapter_generation_takes_references_and_their_strength(reference_api, uploads):
    body = {"prompt": "a portrait", "upload_id": uploads["source"]["id"], "model": "faces", "steps": 4,
            "image_strength": 0.3, **SMALL, "references": [uploads["coffee"]["sha256"]]}
    submitted = reference_api.post("/v1/generations", json=body)
    assert submitted.status_code == 202, submitted.text
    assert submitted.json()["request"]["reference_strength"] == 0.6  # the model's default, recorded
    strong = reference_api.post("/v1/generations", json={**body, "reference_strength": 0.9}).json()
    jobs = [wait_for(reference_api, job["id"]) for job in (submitted.json(), strong)]
    assert [job["state"] for job in jobs] == ["succeeded", "succeeded"], [job["error"] for job in jobs]
    outputs = [next(a for a in job["assets"] if a["kind"] == "output") for job in jobs]
    assert outputs[0]["sha256"] != outputs[1]["sha256"]  # the strength reached the adapter
    record = reference_api.get(f"/v1/assets/{outputs[1]['id']}").json()["record"]
    assert record["request"]["reference_strength"] == 0.9 and record["model"]["family"] == "sd1"
    assert record["model"]["ip_adapter"] == {"weights": "ip-adapter-plus-face_tiny.safetensors",
                                             "kind": "IP-Adapter Plus", "licence": "apache-2.0"}
    too_many = {**body, "references": [uploads["coffee"]["sha256"]] * 5}
    refused = reference_api.post("/v1/generations", json=too_many)
    assert refused.status_code == 422 and refused.json()["error"]["message"].startswith("references:")


def test_a_qwen_edit_with_two_references_runs(reference_api, uploads):
    body = {"prompt": "put the cup in her hands", "upload_id": uploads["source"]["id"], "model": "qwen", "steps": 2,
            "guidance": 4.0, "seed": 5, "aspect_ratio": "1:1",
            "references": [uploads["coffee"]["sha256"], uploads["cat"]["sha256"]]}
    submitted = reference_api.post("/v1/generations", json=body)
    assert submitted.status_code == 202, submitted.text
    assert submitted.json()["request"]["image_strength"] is None
    job = wait_for(reference_api, submitted.json()["id"])
    assert job["state"] == "succeeded", job["error"]
    output = next(a for a in job["assets"] if a["kind"] == "output")
    assert (output["width"], output["height"]) == (64, 64)
    one_step = reference_api.post("/v1/generations", json={**body, "steps": 1, "image_strength": None})
    assert one_step.status_code == 422 and one_step.json()["error"]["message"].startswith("steps:")
