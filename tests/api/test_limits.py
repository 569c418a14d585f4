"""Per-owner limits: active jobs, uploads per minute, stored bytes; 429 with Retry-After, nothing stored."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from photogen.api.app import create_app
from photogen.container import build_container
from photogen.domain.params import GenerationRequest
from photogen.services.limits import LimitExceeded, OwnerLimits
from tests.api.conftest import FAST, make_settings, wait_for


def _client(tmp_path, settings, **limits) -> TestClient:
    return TestClient(create_app(make_settings(tmp_path / "home", settings.models_dir, **limits)))


def _upload(client, data: bytes, headers=None):
    return client.post("/v1/uploads", files={"file": ("a.jpg", data, "image/jpeg")}, headers=headers)


def _refused(response, code: str, longest_s: int) -> int:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == code
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= longest_s
    return retry_after


def test_active_jobs_per_owner(tmp_path, settings, tiny, astronaut_bytes):
    with _client(tmp_path, settings, max_active_jobs_per_owner=2, worker_enabled=False) as client:
        upload_id = _upload(client, astronaut_bytes).json()["id"]
        body = {"prompt": "x", "upload_id": upload_id, **FAST}
        first = client.post("/v1/generations", json=body)
        second = client.post("/v1/generations", json=body, headers={"Idempotency-Key": "two"})
        assert first.status_code == 202 and second.status_code == 202
        _refused(client.post("/v1/generations", json=body), "rate_limited", 60)
        _refused(client.post("/v1/sweeps", json={**body, "sweep": {"field": "seed", "values": [1, 2]}}), "rate_limited", 60)
        _refused(client.post(f"/v1/jobs/{first.json()['id']}/vary", json={"changes": {"prompt": "y"}}), "rate_limited", 60)
        # A retry of a job already queued is not a new job: it is answered, not refused.
        retry = client.post("/v1/generations", json=body, headers={"Idempotency-Key": "two"})
        assert retry.status_code == 200 and retry.json()["id"] == second.json()["id"]
        assert len(client.get("/v1/jobs").json()) == 2
        assert client.post(f"/v1/jobs/{first.json()['id']}/cancel").status_code == 202
        assert client.post("/v1/generations", json=body).status_code == 202


def test_limits_are_per_owner(tmp_path, settings, tiny, astronaut_bytes):
    with _client(tmp_path, settings, max_active_jobs_per_owner=1, worker_enabled=False) as client:
        keys = client.app.state.container.keys
        alice = {"Authorization": f"Bearer {keys.create('alice').key}"}
        bob = {"Authorization": f"Bearer {keys.create('bob').key}"}
        for headers in (alice, bob):
            upload_id = _upload(client, astronaut_bytes, headers).json()["id"]
            body = {"prompt": "x", "upload_id": upload_id, **FAST}
            assert client.post("/v1/generations", json=body, headers=headers).status_code == 202
            _refused(client.post("/v1/generations", json=body, headers=headers), "rate_limited", 60)


def test_uploads_per_minute_count_inline_images_and_survive_deletes(tmp_path, settings, tiny, astronaut_bytes,
                                                                    astronaut_b64):
    with _client(tmp_path, settings, uploads_per_minute=3, worker_enabled=False) as client:
        first = _upload(client, astronaut_bytes)
        assert first.status_code == 201
        assert client.post("/v1/uploads", json={"image": astronaut_b64}).status_code == 201
        inline = client.post("/v1/generations", json={"prompt": "x", "image": astronaut_b64, **FAST})
        assert inline.status_code == 202, inline.text
        retry_after = _refused(_upload(client, astronaut_bytes), "rate_limited", 60)
        assert retry_after >= 50  # the window opens again when the oldest upload is a minute old
        _refused(client.post("/v1/generations", json={"prompt": "x", "image": astronaut_b64, **FAST}), "rate_limited", 60)
        assert client.delete(f"/v1/uploads/{first.json()['id']}").status_code == 200
        _refused(_upload(client, astronaut_bytes), "rate_limited", 60)  # deleting does not reopen the window
        assert len(client.get("/v1/uploads").json()) == 2
        assert len(client.get("/v1/jobs").json()) == 1
        # Another API process on the same database (its own memory, nothing admitted) counts the stored uploads.
        other = OwnerLimits(client.app.state.container.db, max_active_jobs=20, uploads_per_minute=2,
                            max_stored_bytes=10**12)
        with pytest.raises(LimitExceeded):
            other.check_upload_rate("local")
        OwnerLimits(client.app.state.container.db, max_active_jobs=20, uploads_per_minute=3,
                    max_stored_bytes=10**12).check_upload_rate("local")  # 2 stored, room for a third


def test_stored_bytes_count_uploads_and_outputs(tmp_path, settings, tiny, astronaut_bytes, container_of):
    limit = len(astronaut_bytes) + 1000
    with _client(tmp_path, settings, max_stored_bytes_per_owner=limit) as client:
        upload_id = _upload(client, astronaut_bytes).json()["id"]
        job = client.post("/v1/generations", json={"prompt": "x", "upload_id": upload_id, **FAST})
        done = wait_for(client, job.json()["id"])
        assert done["state"] == "succeeded"
        container = container_of(client)
        stored_assets = 0
        for asset in done["assets"]:
            content = client.get(f"/v1/assets/{asset['id']}/content").content
            stored_assets += len(content)
        assert stored_assets > 1000  # the outputs put the owner over the limit
        assert container.limits.stored_bytes("local") == len(astronaut_bytes) + stored_assets
        _refused(_upload(client, astronaut_bytes), "quota_exceeded", 24 * 3600)
        _refused(client.post("/v1/generations", json={"prompt": "x", "upload_id": upload_id, **FAST}),
                 "quota_exceeded", 24 * 3600)
        assert len(client.get("/v1/uploads").json()) == 1 and len(client.get("/v1/jobs").json()) == 1
        assert client.delete(f"/v1/uploads/{upload_id}").status_code == 200
        assert _upload(client, astronaut_bytes).status_code == 201


HOLD_S = 2.0  # how long a submitter that has counted waits for the others to count too


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request) -> str | None:
    return None if request.param == "sqlite" else request.getfixturevalue("postgres_url")


def test_concurrent_submissions_cannot_pass_the_active_jobs_limit_together(tmp_path, settings, tiny, astronaut_bytes,
                                                                           database_url):
    """Each submitter's count is held open until every submitter has counted, or until HOLD_S shows that the
    others are waiting for it: counted apart from their inserts, all four would see 0 and all four be queued."""
    limited = make_settings(tmp_path / "home", settings.models_dir, max_active_jobs_per_owner=2,
                            **({"database_url": database_url} if database_url else {}))
    container = build_container(limited, worker=False)
    try:
        upload = container.uploads.create("local", astronaut_bytes, "a.jpg", "image/jpeg")
        container.jobs.admit = lambda owner, request: None  # only the check made where the job is inserted
        submitters, counted, lock = 4, [], threading.Lock()
        everyone_counted = threading.Event()
        count = container.limits.active_jobs

        def held_count(owner, session):
            active = count(owner, session)
            with lock:
                counted.append(active)
                if len(counted) == submitters:
                    everyone_counted.set()
            if not everyone_counted.wait(HOLD_S):
                everyone_counted.set()  # the others wait for this one: counting is serialized, hold no one else
            return active

        container.limits.active_jobs = held_count
        start = threading.Barrier(submitters)

        def submit(seed: int) -> str:
            start.wait()
            try:
                container.jobs.submit("local", GenerationRequest(prompt="x", **{**FAST, "seed": seed}), upload.id)
            except LimitExceeded as exc:
                return exc.code
            return "queued"

        with ThreadPoolExecutor(submitters) as pool:
            answers = sorted(pool.map(submit, range(submitters)))
        assert answers == ["queued", "queued", "rate_limited", "rate_limited"], (answers, counted)
        assert sorted(counted) == [0, 1, 2, 2]  # each count saw the inserts before it
        assert len(container.jobs.list("local", state="queued")) == 2
    finally:
        container.close()


def test_a_photo_sent_with_a_job_refused_at_insert_is_not_kept(tmp_path, settings, tiny, astronaut_b64):
    with _client(tmp_path, settings, max_active_jobs_per_owner=1, worker_enabled=False) as client:
        client.app.state.container.jobs.admit = lambda owner, request: None  # refused where the job is inserted
        body = {"prompt": "x", "image": astronaut_b64, **FAST}
        assert client.post("/v1/generations", json=body).status_code == 202
        _refused(client.post("/v1/generations", json={**body, "seed": 7}), "rate_limited", 60)
        assert len(client.get("/v1/uploads").json()) == 1  # the second request's copy of the photo went with it
        assert len(client.get("/v1/jobs").json()) == 1
