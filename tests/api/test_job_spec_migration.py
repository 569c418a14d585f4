"""Migration 0005 on databases made by the previous release: flat `jobs.request` rows become JobSpecs, a server
started on the database serves and replays them, and the downgrade gives back the flat rows."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from photogen.api.app import create_app
from photogen.domain.jobs import GenerateSpec, ReplaySpec, SweepSpec, UpscaleSpec, VarySpec, parse_job_spec
from photogen.domain.params import GenerationRequest
from photogen.store.database import Database, migrate
from photogen.store.tables import Asset, Job, Upload
from tests.api.conftest import FAST, wait_for
from tests.api.migrations import database_url, downgrade  # noqa: F401 (a fixture)


# The rows as the previous release wrote them (services/jobs.py before JobSpec).
GEN = GenerationRequest(prompt="a red coat", seed=77, steps=4, image_strength=0.5, num_images=2).model_dump(mode="json")
VARIED = {**GEN, "guidance": 3.5}
SWEEP = {**GenerationRequest(prompt="a", seed=9, steps=4).model_dump(mode="json"), "num_images": 3,
         "sweep": {"field": "image_strength", "values": [0.25, 0.5, 0.75]}}
UPSCALE = {"factor": 4, "method": "lanczos", "model": "tiny", "prompt": "", "seed": 5,
           "print": {"width": 20, "height": 30, "unit": "cm", "dpi": 300}, "num_images": 1}


def old_rows() -> list[dict]:
    return [
        {"id": "g" * 32, "kind": "generate", "request": GEN},
        {"id": "v" * 32, "kind": "generate", "request": VARIED, "parent_id": "g" * 32, "relation": "vary"},
        {"id": "r" * 32, "kind": "generate", "request": GEN, "parent_id": "g" * 32, "relation": "replay"},
        {"id": "s" * 32, "kind": "sweep", "request": SWEEP},
        {"id": "u" * 32, "kind": "upscale", "request": UPSCALE, "parent_id": "g" * 32, "relation": "upscale",
         "source_asset_id": "a" * 32},
    ]


def test_old_rows_become_job_specs_and_back(database_url):
    db = Database(database_url)
    migrate(db.engine, "0004")
    filler = 1203  # more than two batches of plain generations
    with db.session() as session:
        session.add(Upload(id="p" * 32, owner="local", sha256="0" * 64, blob_key="k", format="PNG", width=64,
                           height=64, size_bytes=1))
        session.flush()
        for row in old_rows():
            session.add(Job(owner="local", upload_id="p" * 32, state="succeeded", **row))
        for i in range(filler):
            session.add(Job(id=f"f{i:031d}", owner="local", upload_id="p" * 32,
                            request={**GEN, "seed": i, "num_images": 1}))
    migrate(db.engine)
    with db.session() as session:
        jobs = {job.id: job for job in session.scalars(select(Job))}
    specs = {job_id: parse_job_spec(job.request) for job_id, job in jobs.items()}
    assert type(specs["g" * 32]) is GenerateSpec and specs["g" * 32].request.model_dump(mode="json") == GEN
    assert specs["g" * 32].num_images == 2
    vary = specs["v" * 32]
    assert isinstance(vary, VarySpec) and vary.parent_id == "g" * 32 and vary.changes == {"guidance": 3.5}
    assert vary.request.model_dump(mode="json") == VARIED
    replay = specs["r" * 32]
    assert isinstance(replay, ReplaySpec) and replay.parent_id == "g" * 32
    assert replay.request.model_dump(mode="json") == GEN
    sweep = specs["s" * 32]
    assert isinstance(sweep, SweepSpec) and (sweep.field, sweep.values) == ("image_strength", [0.25, 0.5, 0.75])
    assert sweep.num_images == 3 and sweep.base.seed == 9 and sweep.base.prompt == "a"
    upscale = specs["u" * 32]
    assert isinstance(upscale, UpscaleSpec) and upscale.source_asset_id == "a" * 32
    assert (upscale.factor, upscale.method, upscale.model, upscale.seed) == (4, "lanczos", "tiny", 5)
    assert upscale.print == UPSCALE["print"]
    assert all(specs[f"f{i:031d}"].request.seed == i for i in range(filler))
    migrate(db.engine)  # nothing left to convert: a second run changes nothing
    with db.session() as session:
        assert session.get(Job, "v" * 32).request == jobs["v" * 32].request

    downgrade(db, "0004")
    with db.session() as session:
        flat = {row["id"]: session.get(Job, row["id"]).request for row in old_rows()}
        assert session.get(Job, f"f{filler - 1:031d}").request == {**GEN, "seed": filler - 1, "num_images": 1}
    assert flat == {row["id"]: row["request"] for row in old_rows()}
    db.dispose()


def test_a_server_on_a_migrated_database_serves_replays_and_varies_old_jobs(server_settings, astronaut_bytes):
    # 1. the previous release's database: real uploads, outputs and jobs, with flat request rows
    with TestClient(create_app(server_settings)) as api:
        upload_id = api.post("/v1/uploads", files={"file": ("a.jpg", astronaut_bytes, "image/jpeg")}).json()["id"]
        gen = api.post("/v1/generations", json={"prompt": "a red coat", "upload_id": upload_id, **FAST,
                                                "num_images": 2}).json()
        assert wait_for(api, gen["id"])["state"] == "succeeded"
        sweep = api.post("/v1/sweeps", json={"prompt": "a", "upload_id": upload_id, "steps": 4, "seed": 9,
                                             "sweep": {"field": "image_strength", "values": [0.25, 0.5]}}).json()
        assert wait_for(api, sweep["id"])["state"] == "succeeded"
        output = next(a for a in api.get(f"/v1/jobs/{gen['id']}").json()["assets"] if a["kind"] == "output")
        upscale = api.post(f"/v1/assets/{output['id']}/upscale", json={"factor": 2, "method": "lanczos"}).json()
        vary = api.post(f"/v1/jobs/{gen['id']}/vary", json={"changes": {"guidance": 3.5}}).json()
        replay = api.post(f"/v1/jobs/{gen['id']}/replay").json()
        served = {job["id"]: wait_for(api, job["id"]) for job in (gen, sweep, upscale, vary, replay)}
        assert all(job["state"] == "succeeded" for job in served.values()), served
    db = Database(server_settings.resolved_database_url())
    downgrade(db, "0004")
    with db.session() as session:
        generation = GenerationRequest.model_validate(served[gen["id"]]["request"]).model_dump(mode="json")
        as_old_release_wrote = {
            gen["id"]: generation,
            vary["id"]: {**generation, "guidance": 3.5},
            replay["id"]: generation,
            sweep["id"]: {**GenerationRequest(prompt="a", steps=4, seed=9).model_dump(mode="json"), "num_images": 2,
                          "sweep": {"field": "image_strength", "values": [0.25, 0.5]}},
            upscale["id"]: {"factor": 2, "method": "lanczos", "model": "tiny", "prompt": "", "seed": 0,
                            "print": None, "num_images": 1},
        }
        for job_id, request in as_old_release_wrote.items():
            session.get(Job, job_id).request = request
        assert session.scalar(select(Asset).where(Asset.job_id == upscale["id"])) is not None
    db.dispose()

    # 2. a server of this release on it: the jobs read as before; the old generation replays and varies
    with TestClient(create_app(server_settings)) as api:
        for job_id, before in served.items():
            assert api.get(f"/v1/jobs/{job_id}").json() == before
        again = api.post(f"/v1/jobs/{gen['id']}/replay")
        assert again.status_code == 202
        replayed = wait_for(api, again.json()["id"])
        assert replayed["state"] == "succeeded" and replayed["request"] == served[gen["id"]]["request"]
        assert {c["verdict"] for c in replayed["comparison"]["outputs"]} == {"identical"}
        varied = api.post(f"/v1/jobs/{gen['id']}/vary", json={"changes": {"steps": 5}})
        assert varied.status_code == 202
        assert wait_for(api, varied.json()["id"])["state"] == "succeeded"
        container = api.app.state.container
        with container.db.session() as session:
            specs = {job_id: session.get(Job, job_id).spec for job_id in served}
            newest = session.get(Job, varied.json()["id"]).spec
    assert [type(specs[j["id"]]) for j in (gen, sweep, upscale, vary, replay)] == [
        GenerateSpec, SweepSpec, UpscaleSpec, VarySpec, ReplaySpec]
    assert specs[vary["id"]].changes == {"guidance": 3.5} and specs[replay["id"]].parent_id == gen["id"]
    assert isinstance(newest, VarySpec) and newest.changes == {"steps": 5} and newest.parent_id == gen["id"]
