"""Avatar sets through the API with the tiny FLUX.2 [klein]: one run per scenario drawn from an identity set, the
outputs scored against the set, those below the identity threshold marked and retried with the next seeds
(recorded as retries in the lineage), and the grid; the built-in scenario, angle and restoration recipes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from photogen.api.app import create_app
from photogen.intake import calibration
from tests.api.conftest import make_settings, wait_for


@pytest.fixture(scope="module")
def photos() -> dict[str, bytes]:
    sample = calibration.sample_photos()
    pixels = {"astronaut.jpg": sample["astronaut"],
              "astronaut-mirrored.jpg": np.ascontiguousarray(sample["astronaut"][:, ::-1])}
    return {name: calibration.jpeg_bytes(rgb, 92) for name, rgb in pixels.items()}


@pytest.fixture
def avatar_api(tmp_path, settings, tiny, models):
    models.get("tiny-flux2-klein")
    server = make_settings(tmp_path / "home", settings.models_dir, models={"klein": "tiny-flux2-klein"})
    with TestClient(create_app(server)) as client:
        yield client


@pytest.fixture
def identity(avatar_api, photos) -> str:
    ids = []
    for name, data in photos.items():
        response = avatar_api.post("/v1/uploads", files={"file": (name, data, "image/jpeg")})
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    made = avatar_api.post("/v1/identities", json={"name": "Eileen", "upload_ids": ids})
    assert made.status_code == 201, made.text
    return made.json()["id"]


def settled(client, set_id: str) -> dict:
    """The avatar set once every run has ended (retries included) and its grid is made."""
    for _ in range(10):
        avatar_set = client.get(f"/v1/avatar-sets/{set_id}").json()
        if avatar_set["state"] != "running":
            return avatar_set
        for run in avatar_set["runs"]:
            wait_for(client, run["job_id"])
    raise AssertionError(f"avatar set {set_id} did not settle")


def test_an_avatar_set_runs_each_scenario_marks_and_retries_low_identity_and_makes_a_grid(avatar_api, identity):
    body = {"identity_id": identity, "scenarios": ["avatar-corporate-headshot", "avatar-creator-portrait"],
            "num_images": 2, "model": "klein", "seed": 5, "steps": 2, "size": 64, "retry": True, "max_retries": 1}
    response = avatar_api.post("/v1/avatar-sets", json=body)
    assert response.status_code == 202, response.text
    made = response.json()
    assert [(r["scenario"], r["attempt"]) for r in made["runs"]] == [("avatar-corporate-headshot", 0),
                                                                     ("avatar-creator-portrait", 0)]
    first = avatar_api.get(f"/v1/jobs/{made['runs'][0]['job_id']}").json()
    assert first["request"]["recipe"] == "avatar-corporate-headshot@1" and first["identity_id"] == identity
    assert first["request"]["prompt"].startswith("Make this a corporate headshot")  # the instruction variant
    assert first["request"]["seed"] == 5 and len(first["references"]) == 2

    done = settled(avatar_api, made["id"])
    assert done["state"] == "succeeded"
    # a random-weight model draws no face: every output is below the threshold, marked, and retried once
    outputs = [o for run in done["runs"] for o in run["outputs"]]
    assert len(outputs) == 8 and sorted(done["marked"]) == sorted(o["id"] for o in outputs)
    assert all(o["scores"]["identity_set"]["references"] == 2 for o in outputs)
    retries = [run for run in done["runs"] if run["attempt"] == 1]
    assert [run["scenario"] for run in retries] == body["scenarios"]
    for retry in retries:
        job = avatar_api.get(f"/v1/jobs/{retry['job_id']}").json()
        assert job["relation"] == "retry" and job["parent_id"] == retry["retry_of"]
        assert [o["seed"] for o in retry["outputs"]] == [7, 8]  # the next seeds
        lineage = avatar_api.get(f"/v1/assets/{retry['outputs'][0]['id']}/lineage").json()
        assert lineage["job"]["relation"] == "retry" and lineage["job"]["parent_id"] == retry["retry_of"]
    # the grid: a row per scenario, its cells labelled and recorded with their scores
    grid = done["grid"]
    assert grid["kind"] == "grid" and grid["width"] == 2 * 64 and grid["job_id"] is None
    cells = avatar_api.get(f"/v1/assets/{grid['id']}").json()["record"]["cells"]
    assert [c["scenario"] for c in cells] == [s for s in body["scenarios"] for _ in range(2)]
    assert all(c["marked"] and c["identity"] is None for c in cells)
    image = Image.open(io.BytesIO(avatar_api.get(grid["url"]).content))
    assert image.size == (grid["width"], grid["height"])
    # reading it again changes nothing
    again = avatar_api.get(f"/v1/avatar-sets/{made['id']}").json()
    assert again["grid"]["id"] == grid["id"] and len(again["runs"]) == 4
    assert [s["id"] for s in avatar_api.get("/v1/avatar-sets").json()] == [made["id"]]


def test_avatar_set_refusals(avatar_api, identity, container_of):
    body = {"identity_id": identity, "scenarios": ["avatar-corporate-headshot"], "model": "klein", "steps": 2}
    unknown = avatar_api.post("/v1/avatar-sets", json={**body, "scenarios": ["avatar-on-the-moon"]})
    assert unknown.status_code == 422 and "avatar-on-the-moon" in unknown.json()["error"]["message"]
    angle_on_sd = avatar_api.post("/v1/avatar-sets", json={**body, "model": "tiny",
                                                            "scenarios": ["angle-slight-left"]})
    assert angle_on_sd.status_code == 422 and angle_on_sd.json()["error"]["code"] == "unsupported_control"
    missing = avatar_api.post("/v1/avatar-sets", json={**body, "identity_id": "f" * 32})
    assert missing.status_code == 404
    assert avatar_api.get("/v1/jobs").json() == []  # nothing was submitted
    assert avatar_api.get("/v1/avatar-sets/nope").status_code == 404


def test_recipes_have_scenario_angle_and_instruction_variants(avatar_api, identity):
    recipes = {r["name"]: r for r in avatar_api.get("/v1/recipes").json()}
    assert {"avatar-corporate-headshot", "avatar-creator-portrait", "angle-slight-left",
            "angle-three-quarter-right"} <= set(recipes)
    assert recipes["angle-slight-right"]["angle"] == 15 and recipes["avatar-creator-portrait"]["instruction"]
    assert recipes["restoration"]["instruction"].startswith("Restore this vintage photograph")
    body = {"recipe": "restoration", "prompt": "the torn corner", "identity_id": identity, "steps": 2,
            "width": 64, "height": 64}
    edit = avatar_api.post("/v1/generations", json={**body, "model": "klein"})
    assert edit.status_code == 202, edit.text
    edit = edit.json()
    assert edit["request"]["prompt"].startswith("Restore this vintage photograph") and "(the torn corner)" in \
        edit["request"]["prompt"]
    sd = avatar_api.post("/v1/generations", json={**body, "identity_id": None, "upload_id": edit["upload_id"],
                                                  "model": "tiny", "steps": 4})
    assert sd.status_code == 202, sd.text
    sd = sd.json()
    assert sd["request"]["prompt"].startswith("restored vintage photograph, the torn corner")
    turn = avatar_api.post("/v1/generations", json={"recipe": "angle-slight-left", "identity_id": identity,
                                                    "model": "klein", "steps": 2, "width": 64, "height": 64}).json()
    assert turn["request"]["angle"] == -15 and turn["request"]["recipe"] == "angle-slight-left@1"


def test_an_avatar_set_moves_on_as_its_runs_end_without_being_read(avatar_api, identity):
    """The worker submits the retries and makes the grid once the runs end: a client that only waits for jobs
    (or a webhook) finds the grid made, with no read of the set in between."""
    import time

    from photogen.store.tables import AvatarSet
    from tests.api.conftest import WAIT_DEADLINE_S

    body = {"identity_id": identity, "scenarios": ["avatar-corporate-headshot"], "num_images": 1, "model": "klein",
            "seed": 3, "steps": 2, "size": 64, "retry": True, "max_retries": 1}
    made = avatar_api.post("/v1/avatar-sets", json=body).json()
    first = wait_for(avatar_api, made["runs"][0]["job_id"])
    db = avatar_api.app.state.container.db
    deadline = time.monotonic() + WAIT_DEADLINE_S
    while True:  # the retry is submitted by the worker right after the first run ends
        with db.session() as session:
            row = session.get(AvatarSet, made["id"])
            runs, grid_id = list(row.runs["runs"]), row.grid_asset_id
        if grid_id is not None or time.monotonic() > deadline:
            break
        if len(runs) == 2:
            wait_for(avatar_api, runs[1]["job_id"])
        time.sleep(0.05)
    assert first["state"] == "succeeded"
    assert [run["attempt"] for run in runs] == [0, 1] and runs[1]["retry_of"] == first["id"]
    assert grid_id is not None
    assert avatar_api.get(f"/v1/avatar-sets/{made['id']}").json()["grid"]["id"] == grid_id
