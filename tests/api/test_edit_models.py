"""Instruction-edit models through the API: capabilities in GET /v1/models, 422 for controls a model lacks,
reference images named by their upload's sha256, and progress counted in the steps the model runs."""

from __future__ import annotations


import pytest
from fastapi.testclient import TestClient
from PIL import Image

from photogen.api.app import create_app
from tests.api.conftest import make_settings, upload_image, wait_for

EDIT = {"steps": 2, "seed": 21, "guidance": 4.0}


@pytest.fixture
def edit_api(tmp_path, settings, tiny, models):
    models.get("tiny-flux2-klein")  # built once in the shared models folder
    server = make_settings(tmp_path / "home", settings.models_dir, models={"klein": "tiny-flux2-klein"})
    with TestClient(create_app(server)) as client:
        yield client


@pytest.fixture
def uploads(edit_api, astronaut_array):
    from skimage import data

    return {"source": upload_image(edit_api, Image.fromarray(astronaut_array)),
            "reference": upload_image(edit_api, Image.fromarray(data.coffee()))}


def test_models_show_each_models_capabilities_from_configs(edit_api, container_of):
    models = {m["id"]: m for m in edit_api.get("/v1/models").json()}
    klein, tiny = models["klein"]["capabilities"], models["tiny"]["capabilities"]
    assert models["klein"]["family"] == "flux2-klein"
    assert klein == {
        "image_strength": False, "negative_prompt": True, "schedulers": ["default"], "native_size": [128, 128],
        "size_multiple": 16, "max_references": 3, "reference_strength": False, "default_reference_strength": None,
        "guidance": "cfg", "prompt_kind": "instruction", "default_guidance": 4.0, "default_steps": 50, "min_steps": 1,
        "max_angle": 45,
    }
    assert tiny["image_strength"] and tiny["size_multiple"] == 8 and tiny["max_references"] == 0
    assert tiny["prompt_kind"] == "description" and "lms" in tiny["schedulers"]
    assert models["tiny"]["commercial_use"]["use"] == "allowed"  # Apache-2.0, in plain words beside it
    assert models["tiny"]["commercial_use"]["summary"].startswith("Commercial use allowed")
    assert container_of(edit_api).models.loaded() == []  # read from configs: nothing was loaded


@pytest.mark.parametrize(("values", "control"), [
    ({"image_strength": 0.5}, "image_strength"),
    ({"scheduler": "dpmpp_2m"}, "scheduler"),
    ({"width": 200, "height": 128}, "width"),
])
def test_a_control_the_model_lacks_gets_422_naming_it_and_the_model(edit_api, uploads, container_of, values, control):
    body = {"prompt": "make the coat red", "upload_id": uploads["source"]["id"], "model": "klein", **EDIT, **values}
    response = edit_api.post("/v1/generations", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "unsupported_control"
    assert error["message"].startswith(f"{control}:") and "'klein'" in error["message"] and error["hint"]
    assert edit_api.get("/v1/jobs").json() == []  # nothing was queued


def test_references_beyond_what_a_model_takes_are_refused(edit_api, uploads):
    source, reference = uploads["source"], uploads["reference"]
    too_many = {"prompt": "x", "upload_id": source["id"], "model": "klein", **EDIT, "references": [reference["sha256"]] * 4}
    refused = edit_api.post("/v1/generations", json=too_many).json()["error"]
    assert refused["code"] == "unsupported_control" and refused["message"].startswith("references:")
    on_sd = {"prompt": "x", "upload_id": source["id"], "model": "tiny", "references": [reference["sha256"]]}
    assert edit_api.post("/v1/generations", json=on_sd).json()["error"]["code"] == "unsupported_control"
    strength = {**too_many, "references": [reference["sha256"]], "reference_strength": 0.5}
    refused = edit_api.post("/v1/generations", json=strength).json()["error"]
    assert refused["message"].startswith("reference_strength:")
    unknown = {**too_many, "references": ["f" * 64]}
    response = edit_api.post("/v1/generations", json=unknown)
    assert response.status_code == 422 and response.json()["error"]["code"] == "reference_not_found"


def test_an_edit_with_a_reference_runs_and_records_it(edit_api, uploads):
    source, reference = uploads["source"], uploads["reference"]
    body = {"prompt": "make the coat red", "upload_id": source["id"], "model": "klein", **EDIT,
            "references": [reference["sha256"]]}
    response = edit_api.post("/v1/generations", json=body)
    assert response.status_code == 202, response.text
    submitted = response.json()
    assert submitted["request"]["image_strength"] is None  # not given, and the model has none
    assert submitted["progress"]["total"] == 2  # an edit model runs every step
    job = wait_for(edit_api, submitted["id"])
    assert job["state"] == "succeeded", job["error"]
    assert job["progress"]["step"] == 2
    output = next(a for a in job["assets"] if a["kind"] == "output")
    assert (output["width"] % 16, output["height"] % 16) == (0, 0)
    record = edit_api.get(f"/v1/assets/{output['id']}").json()["record"]
    assert record["request"]["references"] == [reference["sha256"]]
    assert record["image_strength"] is None and record["denoising_strength"] is None
    assert record["model"]["family"] == "flux2-klein"
    # the same request without the reference is a different picture: the reference reached the model
    plain = edit_api.post("/v1/generations", json={**body, "references": []}).json()
    plain_job = wait_for(edit_api, plain["id"])
    plain_output = next(a for a in plain_job["assets"] if a["kind"] == "output")
    assert plain_output["sha256"] != output["sha256"]


def test_a_variation_or_sweep_of_a_missing_control_is_refused(edit_api, uploads):
    body = {"prompt": "make the coat red", "upload_id": uploads["source"]["id"], "model": "klein", **EDIT}
    sweep = edit_api.post("/v1/sweeps", json={**body, "sweep": {"field": "image_strength", "values": [0.3, 0.6]}})
    assert sweep.status_code == 422 and sweep.json()["error"]["code"] == "unsupported_control"
    job = edit_api.post("/v1/generations", json=body).json()
    vary = edit_api.post(f"/v1/jobs/{job['id']}/vary", json={"changes": {"negative_prompt": "blurry"}})
    assert vary.status_code == 202  # the base model runs true CFG: a negative prompt is a control it has
    vary = edit_api.post(f"/v1/jobs/{job['id']}/vary", json={"changes": {"image_strength": 0.3}})
    assert vary.status_code == 422 and vary.json()["error"]["message"].startswith("image_strength:")
