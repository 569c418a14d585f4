"""Delivery at the size a crop preset promises: outputs smaller than the preset also come as an upscale at that
size, an asset of its own that names the output it came from (so lineage shows the step); "native" keeps the
model's size only."""

from __future__ import annotations

from PIL import Image

from photogen.runner.delivery import delivery_size, fit_to, needed_factor
from tests.api.conftest import FAST, wait_for


def test_a_headshot_is_delivered_at_800_by_1000_as_its_own_lineage_step(api, astronaut_b64):
    body = {"prompt": "a studio headshot", "image": astronaut_b64, "crop_preset": "headshot", "num_images": 2, **FAST, "steps": 2}
    job = wait_for(api, api.post("/v1/generations", json={**body, "delivery": "preset"}).json()["id"])
    assert job["state"] == "succeeded", job
    outputs = sorted((a for a in job["assets"] if a["kind"] == "output"), key=lambda a: a["index"])
    delivered = sorted((a for a in job["assets"] if a["kind"] == "upscale"), key=lambda a: a["index"])
    assert len(outputs) == len(delivered) == 2
    assert all((a["width"], a["height"]) == (800, 1000) for a in delivered)
    assert all(o["width"] < 800 for o in outputs)  # the model's own size, kept as it made it
    assert [d["parent_asset_id"] for d in delivered] == [o["id"] for o in outputs]
    record = api.get(f"/v1/assets/{delivered[0]['id']}").json()["record"]
    assert record["delivery"]["size"] == [800, 1000] and record["upscale"]["factor"] == 2
    assert record["delivery"]["native_size"] == [outputs[0]["width"], outputs[0]["height"]]
    lineage = api.get(f"/v1/assets/{outputs[0]['id']}/lineage").json()
    assert delivered[0]["id"] in [a["id"] for a in lineage["upscales"]]
    assert Image.open(__import__("io").BytesIO(api.get(delivered[1]["url"]).content)).size == (800, 1000)

    native = wait_for(api, api.post("/v1/generations", json={**body, "delivery": "native"}).json()["id"])
    assert native["state"] == "succeeded" and not [a for a in native["assets"] if a["kind"] == "upscale"]
    refused = api.post("/v1/generations", json={**body, "delivery": "poster"})
    assert refused.status_code == 422 and refused.json()["error"]["code"]


def test_the_delivery_size_factor_and_fit():
    assert delivery_size("headshot") == (800, 1000) and delivery_size("custom:3:2") is None
    assert delivery_size(None) is None and delivery_size("nonsense") is None
    assert needed_factor((112, 144), (800, 1000)) == 2 and needed_factor((512, 640), (800, 1000)) == 2
    assert needed_factor((800, 1000), (800, 1000)) is None
    fitted = fit_to(Image.new("RGB", (448, 576)), (800, 1000))
    assert fitted.size == (800, 1000)


def test_previews_come_through_the_events_as_small_jpegs(api, astronaut_b64, container_of):
    job = wait_for(api, api.post("/v1/generations", json={"prompt": "a", "image": astronaut_b64, **FAST, "steps": 16}).json()["id"])
    previews = [e for e in container_of(api).events.since(job["id"], 0) if e["event"] == "preview"]
    assert [e["step"] for e in previews] == [2, 4, 6], previews  # every quarter of the 8 steps, but the output's
    image = Image.open(__import__("io").BytesIO(__import__("base64").b64decode(previews[-1]["image"].split(",", 1)[1])))
    assert image.format == "JPEG" and max(image.size) == 96 and len(previews[-1]["image"]) < 8000
    import numpy as np

    assert np.asarray(image).std() > 1  # a picture, not a flat tile


def test_one_image_or_one_job_can_be_deleted_and_the_upload_stays(api, astronaut_b64):
    body = {"prompt": "a", "image": astronaut_b64, "num_images": 2, **FAST}
    job = wait_for(api, api.post("/v1/generations", json=body).json()["id"])
    outputs = sorted((a for a in job["assets"] if a["kind"] == "output"), key=lambda a: a["index"])
    upscale = wait_for(api, api.post(f"/v1/assets/{outputs[0]['id']}/upscale", json={"factor": 2, "method": "lanczos"}).json()["id"])
    gone = api.delete(f"/v1/assets/{outputs[0]['id']}")
    assert gone.status_code == 200 and gone.json()["deleted"] == {"jobs": 1, "assets": 2}  # its upscale went with it
    assert api.get(f"/v1/assets/{outputs[0]['id']}").status_code == 404
    assert api.get(f"/v1/jobs/{upscale['id']}").status_code == 404
    left = api.get(f"/v1/jobs/{job['id']}").json()
    assert [a["id"] for a in left["assets"] if a["kind"] == "output"] == [outputs[1]["id"]]
    assert api.delete(f"/v1/assets/{outputs[0]['id']}").json()["error"]["code"] == "not_found"

    whole = api.delete(f"/v1/jobs/{job['id']}")
    assert whole.status_code == 200 and whole.json()["deleted"] == {"jobs": 1, "assets": 2}  # the crop and one output
    assert api.get(f"/v1/jobs/{job['id']}").status_code == 404
    assert api.get(f"/v1/uploads/{job['upload_id']}").status_code == 200
    assert api.delete(f"/v1/jobs/{job['id']}").status_code == 404


def test_change_one_thing_for_one_image_keeps_its_seed_and_links_the_pair(api, astronaut_b64):
    job = wait_for(api, api.post("/v1/generations", json={"prompt": "a", "image": astronaut_b64, "num_images": 2, **FAST}).json()["id"])
    one = api.post(f"/v1/jobs/{job['id']}/vary", json={"changes": {"image_strength": 0.75}, "index": 1})
    assert one.status_code == 202, one.text
    varied = one.json()
    assert (varied["parent_id"], varied["relation"]) == (job["id"], "vary")
    assert (varied["request"]["seed"], varied["request"]["num_images"], varied["request"]["image_strength"]) == (1235, 1, 0.75)
    bad = api.post(f"/v1/jobs/{job['id']}/vary", json={"changes": {"image_strength": 0.75}, "index": 5})
    assert bad.status_code == 422 and bad.json()["error"]["hint"] == "give an index from 0 to 1"
