"""GET /metrics: Prometheus text with the queue, batches, step times, latencies, outputs and errors."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from photogen.api.app import create_app
from tests.api.conftest import FAST, make_settings, wait_for


def scrape(client: TestClient) -> dict[tuple[str, tuple], float]:
    """Every sample by (name, sorted labels)."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def delta(after: dict, before: dict, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    assert key in after, f"{key} missing from /metrics"
    return after[key] - before.get(key, 0.0)


def generate(client: TestClient, astronaut_bytes: bytes, **fields) -> dict:
    upload = client.post("/v1/uploads", files={"file": ("a.jpg", astronaut_bytes, "image/jpeg")}).json()
    response = client.post("/v1/generations", json={"prompt": "a portrait", "upload_id": upload["id"], **FAST, **fields})
    assert response.status_code == 202, response.text
    return wait_for(client, response.json()["id"])


def test_metrics_count_a_generation(api, astronaut_bytes):
    before = scrape(api)  # the run metrics are per process: other tests' jobs are counted too
    assert before[("photogen_queue_jobs", (("state", "queued"),))] == 0
    job = generate(api, astronaut_bytes, num_images=2)
    assert job["state"] == "succeeded"
    after = scrape(api)
    assert after[("photogen_queue_jobs", (("state", "succeeded"),))] == 1  # read from this server's database
    assert after[("photogen_queue_jobs", (("state", "running"),))] == 0
    for phase in ("queued", "running", "total"):
        assert delta(after, before, "photogen_job_seconds_count", phase=phase) == 1
    assert delta(after, before, "photogen_job_seconds_sum", phase="total") > 0
    assert delta(after, before, "photogen_outputs_total") == 2
    assert delta(after, before, "photogen_jobs_finished_total", state="succeeded") == 1
    assert delta(after, before, "photogen_batch_size_count") == 1
    assert delta(after, before, "photogen_batch_size_sum") == 1  # one request in its batch
    assert delta(after, before, "photogen_step_seconds_count", model="tiny") >= 1
    assert not [key for key in after if key[0] == "photogen_gpu_memory_bytes"]  # no CUDA here


def test_metrics_count_a_failed_job_by_its_error_code(tmp_path, settings, tiny, astronaut_bytes):
    limited = make_settings(tmp_path / "home", settings.models_dir, job_timeout_s=1e-6)
    with TestClient(create_app(limited)) as client:
        before = scrape(client)
        job = generate(client, astronaut_bytes)
        assert (job["state"], job["error"]["code"]) == ("failed", "job_timeout")
        after = scrape(client)
    assert after[("photogen_queue_jobs", (("state", "failed"),))] == 1
    assert delta(after, before, "photogen_job_errors_total", code="job_timeout") == 1
    assert delta(after, before, "photogen_jobs_finished_total", state="failed") == 1
    assert delta(after, before, "photogen_outputs_total") == 0


def test_metrics_ask_for_an_api_key_when_the_api_does(tmp_path, settings, tiny):
    keyed = make_settings(tmp_path / "home", settings.models_dir, auth="required")
    with TestClient(create_app(keyed)) as client:
        answer = client.get("/metrics")
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthorized"


def test_metrics_can_be_turned_off(tmp_path, settings, tiny):
    off = make_settings(tmp_path / "home", settings.models_dir, metrics=False)
    with TestClient(create_app(off)) as client:
        answer = client.get("/metrics")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "metrics_disabled"
