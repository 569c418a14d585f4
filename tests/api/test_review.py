"""Review tools through the API: scores on outputs, sweeps, change one thing, replay, upscale, lineage."""

import io

from PIL import Image

from tests.api.conftest import FAST, wait_for


def upload(api, data):
    return api.post("/v1/uploads", files={"file": ("a.jpg", data, "image/jpeg")}).json()["id"]


def outputs(job):
    return [a for a in job["assets"] if a["kind"] == "output"]


def test_outputs_carry_scores_and_sort(api, astronaut_bytes):
    upload_id = upload(api, astronaut_bytes)
    job = api.post("/v1/generations", json={"prompt": "a", "upload_id": upload_id, **FAST, "num_images": 3,
                                            "image_strength": 0.75}).json()
    done = wait_for(api, job["id"])
    for asset in outputs(done):
        scores = asset["scores"]
        assert set(scores) >= {"identity", "identity_drift", "structure", "fix"}
        assert 0.0 < scores["structure"] <= 1.0
    by_structure = [a["scores"]["structure"] for a in outputs(api.get(f"/v1/jobs/{job['id']}?sort=structure").json())]
    assert by_structure == sorted(by_structure, reverse=True)


def test_a_strength_sweep_gives_labelled_outputs_and_a_grid(api, astronaut_bytes):
    upload_id = upload(api, astronaut_bytes)
    body = {"prompt": "a", "upload_id": upload_id, "steps": 4, "seed": 9,
            "sweep": {"field": "image_strength", "values": [0.25, 0.5, 0.75]}}
    job = api.post("/v1/sweeps", json=body)
    assert job.status_code == 202 and job.json()["kind"] == "sweep"
    done = wait_for(api, job.json()["id"])
    assert done["state"] == "succeeded", done["error"]
    assert done["progress"]["step"] == done["progress"]["total"] == 3 + 2 + 1
    sweep_outputs = outputs(done)
    assert [a["seed"] for a in sweep_outputs] == [9, 9, 9]
    records = [api.get(f"/v1/assets/{a['id']}").json()["record"] for a in sweep_outputs]
    assert [r["sweep"]["value"] for r in records] == [0.25, 0.5, 0.75]
    assert [r["denoising_steps"] for r in records] == [3, 2, 1]
    grid = next(a for a in done["assets"] if a["kind"] == "grid")
    assert grid["width"] == 3 * sweep_outputs[0]["width"]
    bad = api.post("/v1/sweeps", json={**body, "sweep": {"field": "prompt", "values": [1, 2]}})
    assert bad.status_code == 422


def test_change_one_thing_keeps_the_seed_and_links_the_jobs(api, astronaut_bytes):
    upload_id = upload(api, astronaut_bytes)
    first = api.post("/v1/generations", json={"prompt": "a", "upload_id": upload_id, **FAST}).json()
    varied = api.post(f"/v1/jobs/{first['id']}/vary", json={"changes": {"guidance": 3.5}})
    assert varied.status_code == 202
    second = varied.json()
    assert second["parent_id"] == first["id"] and second["relation"] == "vary"
    assert second["request"]["seed"] == first["request"]["seed"] and second["request"]["guidance"] == 3.5
    assert {k: v for k, v in second["request"].items() if k != "guidance"} == {k: v for k, v in first["request"].items() if k != "guidance"}
    two = api.post(f"/v1/jobs/{first['id']}/vary", json={"changes": {"guidance": 3.5, "steps": 8}})
    assert two.status_code == 422 and "one thing at a time" in two.json()["error"]["message"]
    same = api.post(f"/v1/jobs/{first['id']}/vary", json={"changes": {"guidance": first["request"]["guidance"]}})
    assert same.status_code == 422
    assert wait_for(api, second["id"])["state"] == "succeeded"


def test_replay_reports_identical_per_output(api, astronaut_bytes):
    upload_id = upload(api, astronaut_bytes)
    job = api.post("/v1/generations", json={"prompt": "a", "upload_id": upload_id, **FAST, "num_images": 2}).json()
    wait_for(api, job["id"])
    replay = api.post(f"/v1/jobs/{job['id']}/replay")
    assert replay.status_code == 202 and replay.json()["relation"] == "replay"
    done = wait_for(api, replay.json()["id"])
    assert done["comparison"]["all_identical"] is True
    assert [o["verdict"] for o in done["comparison"]["outputs"]] == ["identical", "identical"]


def test_upscale_is_a_recorded_job_and_lineage_lists_every_ancestor(api, astronaut_bytes):
    upload_id = upload(api, astronaut_bytes)
    job = wait_for(api, api.post("/v1/generations", json={"prompt": "a", "upload_id": upload_id, **FAST}).json()["id"])
    output = outputs(job)[0]
    first = api.post(f"/v1/assets/{output['id']}/upscale", json={"factor": 2, "method": "tiled_refine",
                                                                  "print": {"width": 12, "height": 15, "unit": "in"}})
    assert first.status_code == 202 and first.json()["kind"] == "upscale"
    up1 = next(a for a in wait_for(api, first.json()["id"])["assets"] if a["kind"] == "upscale")
    assert (up1["width"], up1["height"]) == (2 * output["width"], 2 * output["height"])
    record = api.get(f"/v1/assets/{up1['id']}").json()["record"]
    assert record["upscale"]["factor"] == 2 and record["source_asset_id"] == output["id"]
    assert record["upscale"]["upscaler"] == "tiled_refine" and record["upscale"]["model"] == "tiny"
    assert record["print"]["warning"]  # 224x288 px cannot reach 12x15 in at 300 DPI
    second = wait_for(api, api.post(f"/v1/assets/{up1['id']}/upscale", json={"factor": 2, "method": "lanczos"}).json()["id"])
    assert second["state"] == "succeeded", second["error"]
    up2 = next(a for a in second["assets"] if a["kind"] == "upscale")
    lineage = api.get(f"/v1/assets/{up2['id']}/lineage").json()
    assert [a["id"] for a in lineage["ancestors"]] == [up1["id"], output["id"]]
    assert lineage["job"]["id"] == job["id"] and lineage["upload"]["id"] == upload_id
    assert lineage["crop"]["kind"] == "crop"
    assert {a["id"] for a in lineage["upscales"]} == {up1["id"], up2["id"]}
    edges = {(e["from"], e["to"]) for e in lineage["graph"]["edges"]}
    assert (f"asset:{output['id']}", f"asset:{up1['id']}") in edges and (f"asset:{up1['id']}", f"asset:{up2['id']}") in edges
    png = api.get(up2["url"]).content
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == (4 * output["width"], 4 * output["height"])
    deleted = api.delete(f"/v1/uploads/{upload_id}").json()["deleted"]
    assert deleted["assets"] == 4 and deleted["jobs"] == 3
    assert not [k for k in api.app.state.container.blobs.keys() if k.startswith("assets/")]


def test_print_advice(api):
    advice = api.post("/v1/print-advice", json={"width_px": 1024, "height_px": 1024,
                                                "print": {"width": 12, "height": 12, "unit": "in", "dpi": 300}}).json()
    assert advice["required_px"] == [3600, 3600] and advice["recommended_factor"] == 4
