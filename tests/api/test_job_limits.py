"""One job cannot hold the worker: cancels and deletions land within a step, jobs have a time limit, and
requests asking for too much work are refused when they are submitted.

The worker is driven with `run_once` in the test's thread. What happens "while a step runs" is made to happen
by a forward hook on the UNet's middle block: it runs inside the first denoising step, before the up blocks.
"""

from __future__ import annotations

import contextlib
import time

from sqlalchemy import delete

from photogen.container import build_container
from photogen.domain.params import GenerationRequest
from photogen.store.tables import Job
from tests.api.conftest import make_settings, wait_for

LONG = {"steps": 20, "image_strength": 0.0, "seed": 5}  # 20 denoising steps


def submit(container, astronaut_bytes, **values):
    upload = container.uploads.create("local", astronaut_bytes, "a.jpg", "image/jpeg")
    request = GenerationRequest(prompt="a", **{**LONG, **values})
    return upload, container.jobs.submit("local", request, upload.id)[0]


@contextlib.contextmanager
def during_first_step(container, action):
    """Runs `action()` once, inside the first UNet pass, after its middle block."""
    unet = container.models.get("tiny").pipeline.unet
    done = []

    def hook(_module, _inputs, _output):
        if not done:
            done.append(True)
            action()

    handle = unet.mid_block.register_forward_hook(hook)
    try:
        yield done
    finally:
        handle.remove()


def steps_reported(container, job_id):
    return [e["step"] for e in container.events.since(job_id, 0) if e["event"] == "progress"]


def final_state(container, job_id):
    return [e["state"] for e in container.events.since(job_id, 0) if e["event"] == "state"][-1]


def test_a_cancel_lands_inside_the_step_that_is_running(server_settings, astronaut_bytes):
    container = build_container(server_settings, worker=True)
    _upload, job = submit(container, astronaut_bytes)
    with during_first_step(container, lambda: container.jobs.cancel("local", job.id)) as fired:
        assert container.worker.run_once()
    assert fired
    assert steps_reported(container, job.id) == []  # the first step never finished
    assert container.jobs.get("local", job.id).state == "canceled"
    container.close()


def test_deleting_the_upload_stops_its_running_job_within_the_step(server_settings, astronaut_bytes):
    container = build_container(server_settings, worker=True)
    upload, job = submit(container, astronaut_bytes)
    deleted = []
    with during_first_step(container, lambda: deleted.append(container.uploads.delete("local", upload.id))):
        assert container.worker.run_once()
    assert deleted and deleted[0]["jobs"] == 1
    assert steps_reported(container, job.id) == []
    assert final_state(container, job.id) == "canceled"
    container.close()


def test_a_job_row_deleted_elsewhere_counts_as_canceled(server_settings, astronaut_bytes, monkeypatch):
    """Another process removed the row (no in-memory signal here): the worker reads the row and stops."""
    import photogen.runner.control as control

    monkeypatch.setattr(control, "CANCEL_POLL_EVERY_S", 0.0)  # read the row at every check
    container = build_container(server_settings, worker=True)
    _upload, job = submit(container, astronaut_bytes)

    def remove_row():
        with container.db.session() as session:
            session.execute(delete(Job).where(Job.id == job.id))

    with during_first_step(container, remove_row):
        assert container.worker.run_once()
    assert steps_reported(container, job.id) == []
    assert final_state(container, job.id) == "canceled"
    container.close()


def test_a_job_past_its_time_limit_fails_with_job_timeout(tmp_path, settings, tiny, astronaut_bytes):
    limited = make_settings(tmp_path / "home", settings.models_dir, job_timeout_s=0.05)
    container = build_container(limited, worker=True)
    _upload, job = submit(container, astronaut_bytes)

    def slow_step():  # this step outlasts the limit: the deadline must not wait for the step to end
        ends = time.monotonic() + 0.1
        while time.monotonic() < ends:
            pass

    with during_first_step(container, slow_step):
        assert container.worker.run_once()
    done = container.jobs.get("local", job.id)
    assert done.state == "failed" and done.error_code == "job_timeout", (done.state, done.error_code)
    assert "time limit of 0.05 s" in done.error_message
    assert steps_reported(container, job.id) == []
    container.close()


def test_a_sweep_is_timed_out_too(tmp_path, settings, tiny, astronaut_bytes):
    limited = make_settings(tmp_path / "home", settings.models_dir, job_timeout_s=1e-6)
    container = build_container(limited, worker=True)
    upload = container.uploads.create("local", astronaut_bytes, "a.jpg", "image/jpeg")
    base = GenerationRequest(prompt="a", **LONG)
    job, _ = container.jobs.submit_sweep("local", base, upload.id, "seed", [1, 2])
    assert container.worker.run_once()
    done = container.jobs.get("local", job.id)
    assert (done.state, done.error_code) == ("failed", "job_timeout")
    container.close()


# --- the work one request may ask for ---------------------------------------------------------------


def test_requests_over_the_work_limit_are_refused_at_submission(tmp_path, settings, tiny, astronaut_bytes):
    from fastapi.testclient import TestClient

    from photogen.api.app import create_app

    limit = 128 * 128 * 2 * 10  # two 128x128 images at 10 steps
    limited = make_settings(tmp_path / "home", settings.models_dir, max_work_per_request=limit,
                            worker_enabled=False)
    with TestClient(create_app(limited)) as api:
        api.app.state.container.models.get("tiny")  # loaded: its native size (128 x 128) is known
        upload_id = api.post("/v1/uploads", files={"file": ("a.jpg", astronaut_bytes, "image/jpeg")}).json()["id"]
        body = {"prompt": "a", "upload_id": upload_id, "steps": 10, "image_strength": 0.0}
        assert api.post("/v1/generations", json={**body, "num_images": 2}).status_code == 202  # exactly at it
        refused = api.post("/v1/generations", json={**body, "num_images": 3})
        assert refused.status_code == 422
        error = refused.json()["error"]
        assert error["code"] == "invalid_request"
        assert f"{3 * 128 * 128 * 10:,} pixel-steps" in error["message"] and f"{limit:,}" in error["message"]
        big = api.post("/v1/generations", json={**body, "width": 512, "height": 512})  # explicit size counts
        assert big.status_code == 422 and f"{512 * 512 * 10:,}" in big.json()["error"]["message"]
        sweep = api.post("/v1/sweeps", json={**body, "sweep": {"field": "seed", "values": [1, 2, 3]}})
        assert sweep.status_code == 422  # three variants of one image each: 3 x 128 x 128 x 10
        assert api.get("/v1/jobs").json().__len__() == 1  # nothing refused was queued


def test_before_its_model_is_loaded_the_worker_checks_the_work(tmp_path, settings, tiny, astronaut_bytes):
    """Submission never loads a model; the worker refuses the job on the planned crop before running it."""
    limited = make_settings(tmp_path / "home", settings.models_dir, max_work_per_request=128 * 128 * 2 * 10)
    container = build_container(limited, worker=True)
    upload, job = submit(container, astronaut_bytes, steps=10, num_images=3)
    assert container.models.loaded() == [] and job.state == "queued"
    base = GenerationRequest(prompt="a", **{**LONG, "steps": 10})
    sweep, _ = container.jobs.submit_sweep("local", base, upload.id, "seed", [1, 2, 3])
    assert container.worker.run_once() and container.worker.run_once()
    for job_id in (job.id, sweep.id):
        done = container.jobs.get("local", job_id)
        assert (done.state, done.error_code) == ("failed", "invalid_request")
        assert f"{3 * 128 * 128 * 10:,} pixel-steps" in done.error_message
    container.close()


def test_an_upscale_over_the_work_limit_is_refused(tmp_path, settings, tiny, astronaut_bytes):
    from fastapi.testclient import TestClient

    from photogen.api.app import create_app

    limited = make_settings(tmp_path / "home", settings.models_dir, max_work_per_request=128 * 128 * 4 * 5)
    with TestClient(create_app(limited)) as api:
        upload_id = api.post("/v1/uploads", files={"file": ("a.jpg", astronaut_bytes, "image/jpeg")}).json()["id"]
        job = api.post("/v1/generations", json={"prompt": "a", "upload_id": upload_id, "steps": 4,
                                                "image_strength": 0.5}).json()
        done = wait_for(api, job["id"])
        output = next(a for a in done["assets"] if a["kind"] == "output")
        x2 = api.post(f"/v1/assets/{output['id']}/upscale", json={"factor": 2, "method": "tiled_refine"})
        assert x2.status_code == 202  # 256 x 256 x 5 refine steps: at the limit
        x4 = api.post(f"/v1/assets/{output['id']}/upscale", json={"factor": 4, "method": "tiled_refine"})
        assert x4.status_code == 422 and "x4 tiled refine" in x4.json()["error"]["message"]
        lanczos = api.post(f"/v1/assets/{output['id']}/upscale", json={"factor": 4, "method": "lanczos"})
        assert lanczos.status_code == 202  # no model steps


def test_stopping_the_worker_stops_the_running_job_and_requeues_it(server_settings, astronaut_bytes):
    container = build_container(server_settings, worker=True)
    _upload, job = submit(container, astronaut_bytes)
    with during_first_step(container, lambda: container.worker.stop(timeout=0)):
        assert container.worker.run_once()
    assert steps_reported(container, job.id) == []
    again = container.jobs.get("local", job.id)
    assert (again.state, again.attempts) == ("queued", 0)  # a shutdown is not an attempt the job used up
    container.close()


def test_a_retention_purge_stops_the_running_job_of_an_upload_it_removes(server_settings, astronaut_bytes):
    from datetime import datetime, timedelta, timezone

    container = build_container(server_settings, worker=True)
    _upload, job = submit(container, astronaut_bytes)
    container.privacy.set_retention("local", originals_days=1, outputs_days=None)
    later = datetime.now(timezone.utc) + timedelta(days=2)
    purged = []
    with during_first_step(container, lambda: purged.append(container.privacy.purge(now=later))):
        assert container.worker.run_once()
    assert purged and purged[0]["jobs"] == 1
    assert steps_reported(container, job.id) == []
    assert final_state(container, job.id) == "canceled"
    container.close()
