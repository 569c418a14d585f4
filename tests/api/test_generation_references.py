"""Generating with reference photos: `reference_upload_ids` and `identity_id` on POST /v1/generations with the
tiny FLUX.2 [klein] (up to three reference images beside the source), the records and scores of their outputs,
the head-turn control, and each refusal (422, or 404 for another owner's photo)."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from photogen.api.app import create_app
from photogen.intake import calibration
from tests.api.conftest import make_settings, wait_for

EDIT = {"steps": 2, "seed": 21, "guidance": 4.0, "width": 64, "height": 64}


@pytest.fixture(scope="module")
def photos() -> dict[str, bytes]:
    sample = calibration.sample_photos()
    pixels = {
        "astronaut.jpg": sample["astronaut"],
        "astronaut-mirrored.jpg": np.ascontiguousarray(sample["astronaut"][:, ::-1]),
        "coffee.jpg": sample["coffee"],
        "grace_hopper.jpg": sample["grace_hopper"],
        "black.jpg": np.zeros((256, 256, 3), np.uint8),  # its preflight blocks it (no detail, no light)
    }
    return {name: calibration.jpeg_bytes(rgb, 92) for name, rgb in pixels.items()}


@pytest.fixture
def ref_api(tmp_path, settings, tiny, models):
    for name in ("tiny-flux2-klein", "tiny-flux-kontext"):
        models.get(name)  # built once in the shared models folder
    server = make_settings(tmp_path / "home", settings.models_dir,
                           models={"klein": "tiny-flux2-klein", "kontext": "tiny-flux-kontext"})
    with TestClient(create_app(server)) as client:
        yield client


def upload(client, photos, name, headers=None) -> dict:
    response = client.post("/v1/uploads", files={"file": (name, photos[name], "image/jpeg")}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def output_of(client, job: dict) -> dict:
    done = wait_for(client, job["id"])
    assert done["state"] == "succeeded", done["error"]
    return next(a for a in done["assets"] if a["kind"] == "output")


def test_reference_uploads_in_order_the_first_is_the_source_and_each_reaches_the_model(ref_api, photos):
    astronaut, coffee, hopper = (upload(ref_api, photos, n) for n in ("astronaut.jpg", "coffee.jpg", "grace_hopper.jpg"))
    body = {"prompt": "make the jacket red", "model": "klein", **EDIT}
    first = ref_api.post("/v1/generations", json={**body, "reference_upload_ids": [astronaut["id"], coffee["id"]]})
    assert first.status_code == 202, first.text
    job = first.json()
    assert job["upload_id"] == astronaut["id"]  # the first photo is the source
    assert job["request"]["references"] == [coffee["sha256"]]
    assert job["references"] == [
        {"position": 0, "upload_id": astronaut["id"], "sha256": astronaut["sha256"], "role": "source"},
        {"position": 1, "upload_id": coffee["id"], "sha256": coffee["sha256"], "role": "reference"},
    ]
    # the same request with another reference photo is another picture: the reference reached the model
    second = ref_api.post("/v1/generations", json={**body, "reference_upload_ids": [astronaut["id"], hopper["id"]]})
    outputs = [output_of(ref_api, job), output_of(ref_api, second.json())]
    assert outputs[0]["sha256"] != outputs[1]["sha256"]
    # a source named separately keeps every listed photo as a reference
    third = ref_api.post("/v1/generations", json={**body, "upload_id": hopper["id"],
                                                   "reference_upload_ids": [astronaut["id"], coffee["id"]]}).json()
    assert third["upload_id"] == hopper["id"]
    assert third["request"]["references"] == [astronaut["sha256"], coffee["sha256"]]
    # each output is scored against the faces of the photos it drew on, with its drift flags
    scores = outputs[1]["scores"]
    assert scores["identity_set"]["references"] == 2  # the astronaut's and Grace Hopper's faces
    assert set(scores["identity_set"]) >= {"best", "mean", "threshold", "drift", "note"}
    assert isinstance(scores["drift"], list) and "structure" in scores


def test_an_identity_set_gives_the_source_and_references_and_scores_against_the_set(ref_api, photos):
    astronaut, mirrored = upload(ref_api, photos, "astronaut.jpg"), upload(ref_api, photos, "astronaut-mirrored.jpg")
    made = ref_api.post("/v1/identities", json={"name": "Eileen", "upload_ids": [astronaut["id"], mirrored["id"]]})
    assert made.status_code == 201, made.text
    identity = made.json()["id"]
    body = {"prompt": "make the jacket red", "model": "klein", **EDIT, "identity_id": identity}
    job = ref_api.post("/v1/generations", json=body)
    assert job.status_code == 202, job.text
    job = job.json()
    assert job["identity_id"] == identity and job["upload_id"] == astronaut["id"]
    assert job["request"]["references"] == [mirrored["sha256"]]
    output = output_of(ref_api, job)
    assert output["scores"]["identity_set"]["references"] == 2  # both faces of the set, as stored
    record = ref_api.get(f"/v1/assets/{output['id']}").json()["record"]
    assert record["identity_id"] == identity
    assert [r["sha256"] for r in record["references"]] == [astronaut["sha256"], mirrored["sha256"]]


def test_refusals_name_the_limit_or_the_reason(ref_api, photos, container_of):
    astronaut, coffee, black = (upload(ref_api, photos, n) for n in ("astronaut.jpg", "coffee.jpg", "black.jpg"))
    body = {"prompt": "make the jacket red", "model": "klein", **EDIT}

    def refused(payload, status=422):
        response = ref_api.post("/v1/generations", json={**body, **payload})
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["hint"]
        return error

    # a reference whose preflight blocks it
    error = refused({"reference_upload_ids": [astronaut["id"], black["id"]]})
    assert error["code"] == "reference_blocked" and "black.jpg" in error["message"] and "exposure" in error["message"]
    # more references than the model takes (the tiny klein takes three beside the source)
    many = [upload(ref_api, photos, n)["id"] for n in ("grace_hopper.jpg", "astronaut-mirrored.jpg")]
    error = refused({"upload_id": astronaut["id"], "reference_upload_ids": [coffee["id"], *many, astronaut["id"]]})
    assert error["code"] == "unsupported_control" and error["message"].startswith("references:")
    assert "at most 3" in error["message"]
    # an identity set without a usable photo (its only photo was deleted since)
    alone = upload(ref_api, photos, "astronaut-mirrored.jpg")
    identity = ref_api.post("/v1/identities", json={"name": "x", "upload_ids": [alone["id"]]}).json()["id"]
    assert ref_api.delete(f"/v1/uploads/{alone['id']}").status_code == 200
    error = refused({"identity_id": identity})
    assert error["code"] == "no_usable_reference" and "no usable photo" in error["message"]
    # both ways at once, and a head turn on a model without the control
    error = refused({"identity_id": identity, "reference_upload_ids": [astronaut["id"]]})
    assert error["code"] == "invalid_request"
    error = refused({"upload_id": astronaut["id"], "model": "tiny", "angle": 15, "steps": 4, "width": 64,
                     "height": 64})
    assert error["code"] == "unsupported_control" and error["message"].startswith("angle:") and "'tiny'" in error["message"]
    assert ref_api.get("/v1/jobs").json() == []  # nothing was queued
    # another owner's photo is as missing as any other (with keys from here on)
    keys = container_of(ref_api).keys
    as_alice = {"Authorization": f"Bearer {keys.create('alice').key}"}
    as_bob = {"Authorization": f"Bearer {keys.create('bob').key}"}
    alices = upload(ref_api, photos, "astronaut.jpg", headers=as_alice)
    bobs = upload(ref_api, photos, "grace_hopper.jpg", headers=as_bob)
    response = ref_api.post("/v1/generations", headers=as_alice,
                            json={**body, "reference_upload_ids": [alices["id"], bobs["id"]]})
    assert response.status_code == 404 and bobs["id"] in response.json()["error"]["message"]
    response = ref_api.post("/v1/generations", headers=as_bob, json={**body, "identity_id": identity})
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_every_reference_is_recorded_and_a_replay_uses_the_same_ones(ref_api, photos, container_of, tmp_path):
    from sqlalchemy import select

    from photogen.outputs import read_record
    from photogen.store.tables import JobReferenceRow

    astronaut, coffee = upload(ref_api, photos, "astronaut.jpg"), upload(ref_api, photos, "coffee.jpg")
    body = {"prompt": "make the jacket red", "model": "klein", **EDIT,
            "reference_upload_ids": [astronaut["id"], coffee["id"]]}
    job = ref_api.post("/v1/generations", json=body).json()
    output = output_of(ref_api, job)
    digests = [astronaut["sha256"], coffee["sha256"]]
    # the PNG's embedded record
    png = tmp_path / "out.png"
    png.write_bytes(ref_api.get(output["url"]).content)
    embedded = read_record(png)
    assert [r["sha256"] for r in embedded["references"]] == digests
    assert embedded["request"]["references"] == [coffee["sha256"]]
    # the database
    with container_of(ref_api).db.session() as session:
        rows = session.scalars(select(JobReferenceRow).where(JobReferenceRow.job_id == job["id"])
                               .order_by(JobReferenceRow.position)).all()
        assert [(r.position, r.upload_id, r.sha256, r.role) for r in rows] == [
            (0, astronaut["id"], astronaut["sha256"], "source"), (1, coffee["id"], coffee["sha256"], "reference")]
    # the lineage, with the reference as a node of its graph
    lineage = ref_api.get(f"/v1/assets/{output['id']}/lineage").json()
    assert [r["sha256"] for r in lineage["references"]] == digests
    assert {"from": f"reference:{coffee['sha256']}", "to": f"job:{job['id']}", "relation": "reference of"} in \
        lineage["graph"]["edges"]
    # a replay runs with the same references and gives the same pixels
    replay = ref_api.post(f"/v1/jobs/{job['id']}/replay").json()
    assert [r["sha256"] for r in replay["references"]] == digests
    replayed = wait_for(ref_api, replay["id"])
    assert replayed["state"] == "succeeded", replayed["error"]
    assert replayed["comparison"]["all_identical"], replayed["comparison"]
    assert [o["max_difference"] for o in replayed["comparison"]["outputs"]] == [0]  # pixel-identical
    # deleting the reference keeps the record of it (by SHA-256); a replay then says what is missing
    assert ref_api.delete(f"/v1/uploads/{coffee['id']}").status_code == 200
    lineage = ref_api.get(f"/v1/assets/{output['id']}/lineage").json()
    assert [r["sha256"] for r in lineage["references"]] == digests
    refused = ref_api.post(f"/v1/jobs/{job['id']}/replay")
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "reference_not_found"


def test_a_head_turn_is_an_instruction_that_keeps_the_crop_and_reports_the_measured_yaw(ref_api, photos):
    astronaut, mirrored = upload(ref_api, photos, "astronaut.jpg"), upload(ref_api, photos, "astronaut-mirrored.jpg")
    body = {"prompt": "a portrait", "model": "klein", **EDIT, "upload_id": astronaut["id"]}
    plain = ref_api.post("/v1/generations", json=body).json()
    turned = ref_api.post("/v1/generations", json={**body, "angle": 15})
    assert turned.status_code == 202, turned.text
    turned = turned.json()
    assert turned["request"]["angle"] == 15 and turned["warnings"] == []  # a small turn warns of nothing
    outputs = [output_of(ref_api, plain), output_of(ref_api, turned)]
    assert outputs[0]["sha256"] != outputs[1]["sha256"]  # the instruction reached the model
    jobs = [ref_api.get(f"/v1/jobs/{job['id']}").json() for job in (plain, turned)]
    assert jobs[0]["crop"] == jobs[1]["crop"]  # the crop is kept
    angle = outputs[1]["scores"]["angle"]
    assert angle["requested"] == 15 and set(angle) == {"requested", "source_yaw", "measured_yaw", "turned", "reached"}
    assert angle["source_yaw"] is not None and abs(angle["source_yaw"]) < 15  # the astronaut faces the camera
    assert "angle" not in outputs[0]["scores"]
    # larger than 30 degrees from one photo: a warning before the run, recorded on the job
    wide = ref_api.post("/v1/generations", json={**body, "angle": -45}).json()
    assert len(wide["warnings"]) == 1 and "more than 30 degrees" in wide["warnings"][0]
    # an identity set whose photos all face the camera does not cover a 30 degree turn
    identity = ref_api.post("/v1/identities", json={"name": "Eileen",
                                                     "upload_ids": [astronaut["id"], mirrored["id"]]}).json()["id"]
    covered = ref_api.post("/v1/generations", json={**body, "upload_id": None, "identity_id": identity,
                                                     "angle": 30}).json()
    assert any("past what they show" in warning and "three-quarter right" in warning for warning in covered["warnings"])
    # beyond what the model turns at all
    refused = ref_api.post("/v1/generations", json={**body, "angle": 60})
    assert refused.status_code == 422 and refused.json()["error"]["message"].startswith("angle:")
    assert ref_api.post("/v1/generations", json={**body, "angle": 12}).status_code == 422  # steps of 5 degrees


def test_an_identity_set_on_a_model_without_references_gives_only_the_source(ref_api, photos):
    astronaut, mirrored = upload(ref_api, photos, "astronaut.jpg"), upload(ref_api, photos, "astronaut-mirrored.jpg")
    identity = ref_api.post("/v1/identities", json={"name": "Eileen",
                                                     "upload_ids": [astronaut["id"], mirrored["id"]]}).json()["id"]
    job = ref_api.post("/v1/generations", json={"prompt": "make the jacket red", "model": "kontext", "steps": 2,
                                                "seed": 3, "width": 64, "height": 64, "identity_id": identity})
    assert job.status_code == 202, job.text
    job = job.json()
    assert job["upload_id"] == astronaut["id"] and job["request"]["references"] == []  # Kontext takes none
    assert job["identity_id"] == identity
    output = output_of(ref_api, job)
    assert output["scores"]["identity_set"]["references"] == 2  # still scored against the whole set
    # a 45 degree turn from the one photo the model sees warns before the run
    turned = ref_api.post("/v1/generations", json={"prompt": "a portrait", "model": "kontext", "steps": 2,
                                                   "identity_id": identity, "angle": 45}).json()
    assert any("from one photo" in warning for warning in turned["warnings"])


def test_one_step_on_an_edit_model_is_not_cut_by_a_strength_it_does_not_have(ref_api, photos):
    astronaut = upload(ref_api, photos, "astronaut.jpg")
    response = ref_api.post("/v1/generations", json={"prompt": "make the jacket red", "model": "klein", "steps": 1,
                                                     "upload_id": astronaut["id"], "width": 64, "height": 64})
    assert response.status_code == 202, response.text
    assert response.json()["request"]["image_strength"] is None and response.json()["progress"]["total"] == 1


def test_the_image_to_image_path_draws_on_references_too(ref_api, photos):
    astronaut, coffee = upload(ref_api, photos, "astronaut.jpg"), upload(ref_api, photos, "coffee.jpg")
    response = ref_api.post("/v1/image-to-image", json={"prompt": "make the jacket red", "model": "klein", **EDIT,
                                                         "reference_upload_ids": [astronaut["id"], coffee["id"]]})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert len(answer["images"]) == 1 and answer["job"]["upload_id"] == astronaut["id"]
    assert [r["role"] for r in answer["job"]["references"]] == ["source", "reference"]
    assert answer["job"]["via"]["path"] == "/v1/image-to-image" and answer["job"]["via"]["ignored_fields"] == []


def test_a_sweep_of_angles_is_a_ladder_of_turns_with_each_measured(ref_api, photos):
    astronaut = upload(ref_api, photos, "astronaut.jpg")
    body = {"prompt": "a portrait", "model": "klein", **EDIT, "upload_id": astronaut["id"],
            "sweep": {"field": "angle", "values": [-15, 0, 15]}}
    response = ref_api.post("/v1/sweeps", json=body)
    assert response.status_code == 202, response.text
    job = wait_for(ref_api, response.json()["id"])
    assert job["state"] == "succeeded", job["error"]
    outputs = sorted((a for a in job["assets"] if a["kind"] == "output"), key=lambda a: a["index"])
    assert [o["scores"].get("angle", {}).get("requested") for o in outputs] == [-15, None, 15]
    assert len({o["sha256"] for o in outputs}) == 3  # each turn is its own instruction
    grid = next(a for a in job["assets"] if a["kind"] == "grid")
    labels = ref_api.get(f"/v1/assets/{grid['id']}").json()["record"]["labels"]
    assert [label.split(",")[0] for label in labels] == ["angle -15", "angle 0", "angle +15"]
    on_sd = ref_api.post("/v1/sweeps", json={**body, "model": "tiny", "steps": 4})
    assert on_sd.status_code == 422 and on_sd.json()["error"]["message"].startswith("angle:")
