"""POST /v1/restorations end to end: a damaged real photo in, a job whose assets are each step, the damage mask
to edit and send back, Idempotency-Key retries, refusals with a code and a fix; and `photogen restore`."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.api.conftest import wait_for
from tests.restoration.conftest import damage


def png_b64(pixels: np.ndarray, mode: str = "RGB") -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="module")
def scan() -> np.ndarray:
    from skimage import data

    return damage(data.astronaut()[:160, 140:300], seed=4).damaged  # 160x160, the face and a helmet's rim


def assets_by_kind(job: dict) -> dict[str, dict]:
    return {asset["kind"]: asset for asset in job["assets"]}


def test_a_restoration_is_a_job_whose_assets_are_its_steps(api, scan):
    body = {"image": png_b64(scan), "steps": 2}
    answer = api.post("/v1/restorations", json=body, headers={"Idempotency-Key": "restore-1"})
    assert answer.status_code == 202, answer.text
    job = wait_for(api, answer.json()["id"])
    assert job["state"] == "succeeded", job["error"]
    assert job["kind"] == "restore" and job["request"]["num_images"] == 1
    assets = assets_by_kind(job)
    assert set(assets) == {"scan", "damage_mask", "mask_preview", "repair", "tones", "output"}
    for asset in assets.values():
        assert (asset["width"], asset["height"]) == (160, 160)  # everything at the scan's own size
    before = Image.open(io.BytesIO(api.get(assets["scan"]["url"]).content))
    assert np.array_equal(np.asarray(before.convert("RGB")), scan)  # the before, pixel for pixel
    # the lineage walks back from the output through each step to the mask
    assert assets["output"]["parent_asset_id"] == assets["tones"]["id"]
    assert assets["tones"]["parent_asset_id"] == assets["repair"]["id"]
    assert assets["repair"]["parent_asset_id"] == assets["damage_mask"]["id"]
    assert assets["damage_mask"]["parent_asset_id"] == assets["scan"]["id"]
    assert assets["mask_preview"]["parent_asset_id"] == assets["damage_mask"]["id"]
    lineage = api.get(f"/v1/assets/{assets['output']['id']}/lineage").json()
    assert [a["kind"] for a in lineage["ancestors"]] == ["tones", "repair", "damage_mask", "scan"]
    mask = Image.open(io.BytesIO(api.get(assets["damage_mask"]["url"]).content))
    assert mask.mode == "L" and mask.size == (160, 160)
    record = api.get(f"/v1/assets/{assets['output']['id']}").json()["record"]
    assert record["restoration"]["damage"]["area_share"] > 0
    assert [s["step"] for s in record["restoration"]["steps"]] == ["damage_mask", "repair", "tones", "faces"]
    assert assets["output"]["scores"]["damage_area_share"] == record["restoration"]["damage"]["area_share"]
    # a retry with the same key answers the same job; a different request under it conflicts
    again = api.post("/v1/restorations", json=body, headers={"Idempotency-Key": "restore-1"})
    assert again.status_code == 200 and again.json()["id"] == job["id"]
    other = api.post("/v1/restorations", json={**body, "seed": 5}, headers={"Idempotency-Key": "restore-1"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"

    # the user paints over the mask and sends it back: the repair follows the edited mask
    edited = np.zeros((160, 160), np.uint8)
    edited[10:30, 10:60] = 255
    second = api.post("/v1/restorations", json={"upload_id": job["upload_id"], "mask": png_b64(edited, "L"),
                                                "steps": 2})
    assert second.status_code == 202, second.text
    done = wait_for(api, second.json()["id"])
    assert done["state"] == "succeeded", done["error"]
    assert done["request"]["mask_upload_id"]
    used = Image.open(io.BytesIO(api.get(assets_by_kind(done)["damage_mask"]["url"]).content))
    assert np.array_equal(np.asarray(used) > 0, edited > 0)
    record = api.get(f"/v1/assets/{assets_by_kind(done)['output']['id']}").json()["record"]
    assert record["restoration"]["damage"]["source"] == "user"


def test_refusals_say_what_to_fix(api, scan):
    wrong_size = api.post("/v1/restorations", json={"image": png_b64(scan), "mask": png_b64(scan[:80])})
    assert wrong_size.status_code == 400, wrong_size.text
    assert wrong_size.json()["error"]["code"] == "mask_size_mismatch"
    no_model = api.post("/v1/restorations", json={"image": png_b64(scan), "colourise": True})
    assert no_model.status_code == 400 and no_model.json()["error"]["code"] == "colourise_unsupported"
    describer = api.post("/v1/restorations", json={"image": png_b64(scan), "colourise": True, "model": "tiny"})
    assert describer.status_code == 400 and describer.json()["error"]["code"] == "colourise_unsupported"
    assert api.get("/v1/uploads").json() == []  # nothing refused was kept


def test_the_restore_command_writes_one_png_at_the_scans_size(photogen_home, tiny, scan, tmp_path):
    env = {**os.environ, "PHOTOGEN_HOME": str(photogen_home), "PHOTOGEN_DEVICE": "cpu", "PHOTOGEN_OFFLINE": "1"}
    path = tmp_path / "scan.png"
    Image.fromarray(scan).save(path)
    mask = np.zeros((160, 160), np.uint8)
    mask[50:70, 20:90] = 255
    mask_path = tmp_path / "mask.png"
    Image.fromarray(mask, "L").save(mask_path)
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "photogen", "restore", str(path), "--mask", str(mask_path),
                             "--model", "tiny", "--steps", "2", "--out", str(out)],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "damage: " in result.stdout and "repair: model (StableDiffusionInpaintPipeline" in result.stdout
    pngs = sorted(p for p in out.glob("*.png") if not p.name.endswith("_damage_mask.png"))
    assert len(pngs) == 1
    with Image.open(pngs[0]) as restored:
        assert restored.size == (160, 160)
    assert (out / pngs[0].name.replace(".png", "_damage_mask.png")).is_file()
    assert pngs[0].with_suffix(".json").is_file()
    refused = subprocess.run([sys.executable, "-m", "photogen", "restore", str(path), "--colourise"],
                             capture_output=True, text=True, env=env, timeout=600)
    assert refused.returncode != 0 and "colourise_unsupported" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_model_repair_is_held_to_the_work_limit_once_its_damaged_tiles_are_known(server_settings, scan):
    from fastapi.testclient import TestClient

    from photogen.api.app import create_app

    settings = server_settings.model_copy(update={"max_work_per_request": 10_000})
    with TestClient(create_app(settings)) as client:
        answer = client.post("/v1/restorations", json={"image": png_b64(scan), "model": "tiny", "steps": 2})
        assert answer.status_code == 202, answer.text
        job = wait_for(client, answer.json()["id"])
    assert job["state"] == "failed"
    assert job["error"]["code"] == "invalid_request"
    assert "damaged tile(s)" in job["error"]["message"] and "10,000" in job["error"]["message"]
    assert not [asset for asset in job["assets"] if asset["kind"] == "output"]  # nothing half-made is kept


def test_a_restoration_with_an_instruction_edit_model_repairs_by_telling_it_to(tmp_path, settings, tiny, models, scan):
    """The catalogue's klein (the tiny FLUX.2 [klein]) repairs the painted damage tile by tile; pixels away from
    the mask stay the scan's own; the same seed gives the same repair; the work limit holds it too."""
    import cv2
    from fastapi.testclient import TestClient

    from photogen.api.app import create_app
    from photogen.restoration.repair import FEATHER_PX, MODEL_MASK_GROW_PX, REPAIR_INSTRUCTION
    from tests.api.conftest import make_settings

    models.get("tiny-flux2-klein")
    server = make_settings(tmp_path / "home", settings.models_dir, models={"klein": "tiny-flux2-klein"})
    mask = np.zeros((160, 160), np.uint8)
    mask[40:60, 40:120] = 255
    body = {"image": png_b64(scan), "mask": png_b64(mask, "L"), "model": "klein", "steps": 2, "seed": 3}
    with TestClient(create_app(server)) as client:
        repairs = []
        for _ in range(2):
            answer = client.post("/v1/restorations", json=body)
            assert answer.status_code == 202, answer.text
            job = wait_for(client, answer.json()["id"])
            assert job["state"] == "succeeded", job["error"]
            assets = assets_by_kind(job)
            record = client.get(f"/v1/assets/{assets['repair']['id']}").json()["record"]["repair"]
            pixels = Image.open(io.BytesIO(client.get(assets["repair"]["url"]).content)).convert("RGB")
            repairs.append((record, np.asarray(pixels)))
            assert (assets["output"]["width"], assets["output"]["height"]) == (160, 160)
        limited = server.model_copy(update={"max_work_per_request": 10_000})
    record, repaired = repairs[0]
    assert record["method"] == "edit_model" and record["model"]["model"] == "tiny-flux2-klein"
    assert record["instruction"] == REPAIR_INSTRUCTION and record["seed"] == 3 and record["steps"] == 2
    assert record["tiles"] == 4 and record["tiles_worked"] == 4  # the damage crosses every tile's overlap
    reach = MODEL_MASK_GROW_PX + FEATHER_PX + 1
    near = cv2.dilate((mask > 0).astype(np.uint8), np.ones((2 * reach + 1,) * 2, np.uint8)).astype(bool)
    assert np.array_equal(repaired[~near], scan[~near])
    assert not np.array_equal(repaired[mask > 0], scan[mask > 0])
    assert np.array_equal(repairs[1][1], repaired)  # the same seed, the same pixels
    with TestClient(create_app(limited)) as client:
        job = wait_for(client, client.post("/v1/restorations", json=body).json()["id"])
    assert job["state"] == "failed" and job["error"]["code"] == "invalid_request"
    assert "4 damaged tile(s) of 128x128" in job["error"]["message"]
