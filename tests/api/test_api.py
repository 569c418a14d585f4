"""The REST API through the in-process ASGI client, with the real worker and the tiny model."""

import io
import json

import pytest
from PIL import Image
from sqlalchemy import func, select

from photogen.store.tables import Asset, BlobTombstone, Job, Upload
from tests.api.conftest import FAST, wait_for


def upload(api, data, name="astronaut.jpg", headers=None):
    kind = "image/png" if name.endswith(".png") else "image/jpeg"
    response = api.post("/v1/uploads", files={"file": (name, data, kind)}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_multipart_and_base64_uploads_are_one_content_addressed_original(api, container_of, astronaut_bytes, astronaut_b64):
    first = upload(api, astronaut_bytes)
    second = api.post("/v1/uploads", json={"image": astronaut_b64, "filename": "again.jpg"})
    assert second.status_code == 201
    assert first["sha256"] == second.json()["sha256"]
    assert (first["width"], first["height"], first["format"]) == (512, 512, "JPEG")
    blobs = container_of(api).blobs.keys()
    assert [k for k in blobs if k.startswith("originals/")] == [f"originals/local/{first['sha256']}"]
    assert container_of(api).blobs.get(blobs[0]) == astronaut_bytes  # the original bytes, untouched


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"image": "not base64!"}, 422, "invalid_request"),
        ({"image": "aGVsbG8="}, 400, "image_unreadable"),
        ({}, 422, "invalid_request"),
        ({"image": "aGVsbG8=", "url": "https://example.com/a.jpg"}, 422, "invalid_request"),
        ({"image": "aGVsbG8=", "extra": 1}, 422, "invalid_request"),
    ],
)
def test_bad_uploads_get_a_clear_error(api, body, status, code):
    response = api.post("/v1/uploads", json=body)
    assert response.status_code == status
    assert response.json()["error"]["code"].startswith(code.split("_")[0])
    assert response.json()["error"]["message"]


def test_wrong_content_type_and_malformed_json(api):
    assert api.post("/v1/uploads", content=b"x", headers={"Content-Type": "text/plain"}).json()["error"]["code"] == "unsupported_media_type"
    response = api.post("/v1/generations", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"


def test_the_common_image_to_image_payload_runs_end_to_end(api, astronaut_b64):
    payload = {"prompt": "studio headshot", "image": astronaut_b64, "image_strength": 0.5, "seed": 1234,
               "aspect_ratio": "4:5", "steps": 4, "num_images": 2}
    response = api.post("/v1/generations", json=payload)
    assert response.status_code == 202
    assert response.json()["state"] == "queued"
    job = wait_for(api, response.json()["id"])
    assert job["state"] == "succeeded", job["error"]
    outputs = [a for a in job["assets"] if a["kind"] == "output"]
    assert [a["seed"] for a in outputs] == [1234, 1235]
    assert job["progress"] == {"step": 2, "total": 2, "images": [{"index": 0, "step": 2, "total": 2}, {"index": 1, "step": 2, "total": 2}]}
    png = api.get(outputs[0]["url"])
    assert png.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(png.content)) as image:
        record = json.loads(image.text["photogen"])
        assert "exif" not in image.info
        assert image.size == (outputs[0]["width"], outputs[0]["height"])
    assert record["seed"] == 1234 and record["image_strength"] == 0.5 and record["denoising_strength"] == 0.5
    assert "source_path" not in record and "/" not in record["source"]["name"]
    detail = api.get(f"/v1/assets/{outputs[0]['id']}").json()
    assert detail["record"] == record


def test_idempotent_retries_create_one_job(api, container_of, astronaut_bytes):
    upload_id = upload(api, astronaut_bytes)["id"]
    body = {"prompt": "a", "upload_id": upload_id, **FAST}
    first = api.post("/v1/generations", json=body, headers={"Idempotency-Key": "retry-1"})
    again = api.post("/v1/generations", json=body, headers={"Idempotency-Key": "retry-1"})
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["id"] == again.json()["id"]
    conflict = api.post("/v1/generations", json={**body, "prompt": "b"}, headers={"Idempotency-Key": "retry-1"})
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "idempotency_conflict"
    with container_of(api).db.session() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 1


def test_sse_progress_arrives_in_order(api, astronaut_bytes):
    upload_id = upload(api, astronaut_bytes)["id"]
    job = api.post("/v1/generations", json={"prompt": "a", "upload_id": upload_id, "steps": 10, "image_strength": 0.4, "seed": 3}).json()
    events = []
    with api.stream("GET", f"/v1/jobs/{job['id']}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    seqs = [e["seq"] for e in events if "seq" in e]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    loading = [e for e in events if e.get("phase") == "loading_model"]
    assert len(loading) <= 1 and all(e["step"] == 0 for e in loading)  # a fresh server loads its model first
    steps = [e["step"] for e in events if e["event"] == "progress" and "phase" not in e]
    assert steps == list(range(1, 7))  # int(10 * 0.6) = 6 steps, each once, in order
    states = [e["state"] for e in events if e["event"] == "state"]
    assert states[-1] == "succeeded" and "running" in states


def test_cancel_a_queued_job(server_settings, astronaut_bytes):
    from fastapi.testclient import TestClient

    from photogen.api.app import create_app
    from photogen.container import build_container

    container = build_container(server_settings, worker=False)
    with TestClient(create_app(server_settings, container=container)) as api:
        upload_id = upload(api, astronaut_bytes)["id"]
        job = api.post("/v1/generations", json={"prompt": "a", "upload_id": upload_id, **FAST}).json()
        canceled = api.post(f"/v1/jobs/{job['id']}/cancel")
        assert canceled.status_code == 202 and canceled.json()["state"] == "canceled"
        again = api.post(f"/v1/jobs/{job['id']}/cancel")
        assert again.status_code == 409 and again.json()["error"]["code"] == "job_finished"


def test_cancel_a_running_job_keeps_no_outputs(api, container_of, astronaut_bytes):
    upload_id = upload(api, astronaut_bytes)["id"]
    job = api.post("/v1/generations", json={"prompt": "a", "upload_id": upload_id, "steps": 150, "image_strength": 0.0, "seed": 1}).json()
    with api.stream("GET", f"/v1/jobs/{job['id']}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("data: ") and json.loads(line[6:])["event"] == "progress":
                assert api.post(f"/v1/jobs/{job['id']}/cancel").status_code == 202
                break
    final = wait_for(api, job["id"])
    assert final["state"] == "canceled"
    assert final["assets"] == [] and final["progress"]["step"] < 150
    assert not [k for k in container_of(api).blobs.keys() if k.startswith("assets/")]


def test_owners_see_only_their_own(api, container_of, astronaut_bytes):
    keys = container_of(api).keys
    alice, bob = keys.create("alice").key, keys.create("bob").key
    as_alice, as_bob = {"Authorization": f"Bearer {alice}"}, {"X-API-Key": bob}
    assert api.get("/v1/uploads").status_code == 401  # keys exist now: anonymous access ends
    assert api.get("/v1/uploads", headers={"Authorization": "Bearer pg_wrong"}).json()["error"]["code"] == "unauthorized"
    mine = upload(api, astronaut_bytes, headers=as_alice)
    job = api.post("/v1/generations", json={"prompt": "a", "upload_id": mine["id"], **FAST}, headers=as_alice).json()
    done = wait_for(api, job["id"], headers=as_alice)
    asset_id = done["assets"][0]["id"]
    for path in (f"/v1/uploads/{mine['id']}", f"/v1/jobs/{job['id']}", f"/v1/assets/{asset_id}", f"/v1/assets/{asset_id}/content"):
        assert api.get(path, headers=as_bob).status_code == 404
        assert api.get(path, headers=as_alice).status_code == 200
    # the routes called for every image check the key in their own thread call: refused the same way
    for path in (f"/v1/jobs/{job['id']}", f"/v1/jobs/{job['id']}/events", f"/v1/assets/{asset_id}/content"):
        assert api.get(path).json()["error"]["code"] == "unauthorized"
        assert api.get(path, headers={"X-API-Key": "pg_wrong"}).status_code == 401
    assert api.post("/v1/generations", json={"prompt": "a", "upload_id": mine["id"]}).status_code == 401
    assert api.delete(f"/v1/uploads/{mine['id']}", headers=as_bob).status_code == 404
    assert api.post("/v1/generations", json={"prompt": "a", "upload_id": mine["id"]}, headers=as_bob).status_code == 404
    assert api.get("/v1/jobs", headers=as_bob).json() == []
    keys.revoke(keys.list()[0].id)
    assert api.get("/v1/uploads", headers=as_alice).status_code == 401


def test_deleting_an_upload_cascades_to_every_derived_row_and_blob(api, container_of, astronaut_bytes, coffee_png):
    container = container_of(api)
    keep = upload(api, coffee_png.read_bytes(), "coffee.png")
    doomed = upload(api, astronaut_bytes)
    for upload_id in (keep["id"], doomed["id"]):
        job = api.post("/v1/generations", json={"prompt": "a", "upload_id": upload_id, **FAST, "num_images": 2}).json()
        assert wait_for(api, job["id"])["state"] == "succeeded"
    assert len(api.get(f"/v1/jobs?upload_id={keep['id']}").json()) == 1
    asset_id = api.get(f"/v1/jobs?upload_id={doomed['id']}").json()[0]["assets"][0]["id"]
    lineage = api.get(f"/v1/assets/{asset_id}/lineage").json()
    assert lineage["upload"]["id"] == doomed["id"] and lineage["crop"]["kind"] == "crop" and len(lineage["outputs"]) == 2
    response = api.delete(f"/v1/uploads/{doomed['id']}")
    assert response.json() == {"deleted": {"jobs": 1, "assets": 3, "blobs": 4}}
    with container.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Upload)) == 1
        assert session.scalar(select(func.count()).select_from(Job).where(Job.upload_id == doomed["id"])) == 0
        assert session.scalar(select(func.count()).select_from(Asset).where(Asset.upload_id == doomed["id"])) == 0
        assert session.scalar(select(func.count()).select_from(BlobTombstone)) == 0
        remaining = {row.blob_key for row in session.scalars(select(Asset))} | {row.blob_key for row in session.scalars(select(Upload))}
    stored = set(container.blobs.keys())
    previews = {key for key in stored if key.startswith("previews/")}
    assert stored - previews == remaining  # no orphan blob, no row without its blob
    assert previews and all(key.startswith(f"previews/local/{keep['sha256']}/") for key in previews)  # the kept one's
    assert api.get(f"/v1/assets/{asset_id}").status_code == 404


def test_errors_have_one_shape_and_no_internals(api):
    for response, status in ((api.get("/v1/nothing-here"), 404), (api.get("/v1/jobs/unknown"), 404),
                             (api.post("/v1/generations", json={"prompt": "", "upload_id": "x"}), 422),
                             (api.post("/v1/generations", json={"prompt": "a", "upload_id": "x", "image_strength": 1.0}), 422)):
        assert response.status_code == status
        body = response.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "hint"}
        assert "Traceback" not in response.text and "/work" not in response.text and "site-packages" not in response.text


def test_openapi_documents_every_field(api):
    spec = api.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {"/v1/uploads", "/v1/generations", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/cancel", "/v1/jobs/{job_id}/events",
            "/v1/assets/{asset_id}/content", "/v1/assets/{asset_id}/lineage", "/v1/uploads/{upload_id}"} <= paths
    for name in ("GenerationIn", "JobOut", "UploadOut", "AssetOut", "Lineage"):
        for field, schema in spec["components"]["schemas"][name]["properties"].items():
            assert schema.get("description"), f"{name}.{field} has no description"
