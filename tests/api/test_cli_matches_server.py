"""One executor: the command line and the server make the same pixels and records for the same request."""

import io

import numpy as np
from PIL import Image

from photogen.domain.params import GenerationRequest
from photogen.services.generation import GenerationService, Source
from tests.api.conftest import wait_for

REQUEST = {"prompt": "a portrait", "seed": 4321, "image_strength": 0.4, "steps": 4, "aspect_ratio": "4:5",
           "num_images": 2}
RECORD_KEYS = ("request", "index", "seed", "pixel_sha256", "size", "crop", "scheduler", "sampler",
               "denoising_steps", "denoising_strength", "image_strength", "software")


def server_job(api, astronaut_bytes, path, body):
    upload = api.post("/v1/uploads", files={"file": ("astronaut.jpg", astronaut_bytes, "image/jpeg")}).json()
    job = api.post(path, json={**body, "upload_id": upload["id"]})
    assert job.status_code == 202, job.text
    done = wait_for(api, job.json()["id"])
    assert done["state"] == "succeeded", done["error"]
    return done


def pixels_of(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def server_assets(api, job, kind):
    assets = sorted((a for a in job["assets"] if a["kind"] == kind), key=lambda a: a["index"])
    return [(api.get(f"/v1/assets/{a['id']}").json()["record"], api.get(f"/v1/assets/{a['id']}/content").content)
            for a in assets]


def test_a_generation_from_the_cli_is_pixel_identical_to_the_servers(api, server_settings, models, astronaut_jpeg,
                                                                      astronaut_bytes, tmp_path):
    done = server_job(api, astronaut_bytes, "/v1/generations", REQUEST)
    served = server_assets(api, done, "output")
    source = Source.from_path(astronaut_jpeg, server_settings)
    made = GenerationService(server_settings, models).generate(source, GenerationRequest(**REQUEST), tmp_path)
    assert len(made.outputs) == len(served) == 2
    for written, (record, content) in zip(made.outputs, served):
        assert np.array_equal(pixels_of(written.png.read_bytes()), pixels_of(content))
        for key in RECORD_KEYS:
            assert written.record[key] == record[key], key
        assert written.record["source"]["sha256"] == record["source"]["sha256"]
        assert written.record["model"]["id"] == record["model"]["id"]
        assert record["job_id"] == done["id"] and "job_id" not in written.record  # a folder's PNGs stay repeatable
    assert done["crop"] == made.crop.as_dict()
    served_scores = [a["scores"] for a in sorted(done["assets"], key=lambda a: a["index"]) if a["kind"] == "output"]
    for mine, theirs in zip(made.scores, served_scores):
        assert abs(mine["structure"] - theirs["structure"]) < 1e-6


def test_a_sweep_from_the_cli_matches_the_servers_output_for_output(api, server_settings, models, astronaut_jpeg,
                                                                     astronaut_bytes, tmp_path):
    values = [0.25, 0.5, 0.75]
    base = {k: v for k, v in REQUEST.items() if k != "num_images"}
    done = server_job(api, astronaut_bytes, "/v1/sweeps", {**base, "sweep": {"field": "image_strength",
                                                                             "values": values}})
    served = server_assets(api, done, "output")
    source = Source.from_path(astronaut_jpeg, server_settings)
    made = GenerationService(server_settings, models).sweep(source, GenerationRequest(**base), "image_strength",
                                                            values, tmp_path)
    assert len(made.outputs) == len(served) == 3
    for written, (record, content) in zip(made.outputs, served):
        assert np.array_equal(pixels_of(written.png.read_bytes()), pixels_of(content))
        assert written.record["sweep"] == record["sweep"]
        for key in RECORD_KEYS:
            assert written.record[key] == record[key], key
    [(_grid_record, grid_content)] = server_assets(api, done, "grid")
    assert np.array_equal(pixels_of(made.grid.read_bytes()), pixels_of(grid_content))
