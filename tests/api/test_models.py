"""The model catalogue: requests name only the operator's models; nothing a client sends reaches the
filesystem or the hub, and no answer or job error shows a server path."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from photogen.api.app import create_app
from tests.api.conftest import FAST, make_settings, wait_for

HOSTILE = ["~", "/etc/passwd", "../x", "stabilityai/sd-turbo"]


def _leaks(text: str, *paths: Path) -> list[str]:
    """Server paths, the home folder or the user's name found in an answer."""
    found = [str(p) for p in paths if str(p) in text]
    found += [w for w in (str(Path.home()), getpass.getuser()) if len(w) > 2 and w in text]
    return found + (["a '/' path"] if "/etc" in text or "/tmp" in text or "/home" in text else [])


@pytest.fixture
def downloads(monkeypatch):
    """Every call into the hub client, recorded (repository id, whether local files only) and refused."""
    import diffusers
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    started = []

    def refuse(repo_id, *args, **kwargs):
        started.append((repo_id, bool(kwargs.get("local_files_only"))))
        raise LocalEntryNotFoundError("not in the local cache (no downloads in tests)")

    monkeypatch.setattr(diffusers.DiffusionPipeline, "download", refuse)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", refuse)
    return started


@pytest.fixture
def catalogue_api(tmp_path, settings, tiny):
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    models = {"house": str(settings.models_dir / "tiny"), "gone": str(tmp_path / "gone.safetensors"),
              "empty": str(empty), "hubbed": "someone/not-cached"}
    server = make_settings(tmp_path / "home", settings.models_dir, models=models)
    with TestClient(create_app(server)) as client:
        yield client


def _upload(client) -> str:
    import io

    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, "JPEG", quality=90)
    response = client.post("/v1/uploads", files={"file": ("a.jpg", buffer.getvalue(), "image/jpeg")})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_models_lists_the_catalogue_from_configs_without_loading_or_paths(catalogue_api, container_of, tmp_path,
                                                                          settings, downloads):
    response = catalogue_api.get("/v1/models")
    assert response.status_code == 200, response.text
    models = {m["id"]: m for m in response.json()}
    assert sorted(models) == ["empty", "gone", "house", "hubbed", "tiny"]
    assert models["tiny"]["default"] and not models["house"]["default"]
    for name in ("tiny", "house"):
        assert models[name]["available"] and models[name]["family"] == "sd1"
        assert models[name]["random_weights"] is True
        assert models[name]["capabilities"]["native_size"] == [128, 128]  # 64 latents x 2 (two VAE blocks)
        assert models[name]["capabilities"]["image_strength"] and models[name]["capabilities"]["negative_prompt"]
        assert "euler_a" in models[name]["capabilities"]["schedulers"]
    assert models["tiny"]["licence"].startswith("Apache-2.0")
    for name in ("gone", "empty", "hubbed"):
        assert not models[name]["available"] and models[name]["family"] is None
    assert (models["hubbed"]["source"], models["gone"]["source"], models["empty"]["source"]) == ("hub", "single_file", "folder")
    assert _leaks(response.text, tmp_path, settings.models_dir) == []
    container = container_of(catalogue_api)
    assert container.models.loaded() == [] and container.models.loads == 0
    assert downloads == [("someone/not-cached", True)]  # the local cache was asked; nothing was fetched


def test_requests_naming_paths_or_hub_ids_get_422_and_nothing_happens(catalogue_api, container_of, tmp_path,
                                                                      settings, downloads, astronaut_b64):
    upload_id = _upload(catalogue_api)
    existing_folder = str(settings.models_dir / "tiny")  # a real model folder, but not offered under this name
    for model in [*HOSTILE, existing_folder]:
        attempts = {
            "generation": catalogue_api.post("/v1/generations", json={
                "prompt": "x", "upload_id": upload_id, "model": model, **FAST}),
            "inline generation": catalogue_api.post("/v1/generations", json={
                "prompt": "x", "image": astronaut_b64, "model": model, **FAST}),
            "sweep": catalogue_api.post("/v1/sweeps", json={
                "prompt": "x", "upload_id": upload_id, "model": model, **FAST,
                "sweep": {"field": "seed", "values": [1, 2]}}),
        }
        for what, response in attempts.items():
            assert response.status_code == 422, (what, model, response.text)
            error = response.json()["error"]
            assert error["code"] == "model_not_allowed", (what, model)
            assert "house" in error["hint"] and "tiny" in error["hint"]
            assert _leaks(response.text, tmp_path, settings.models_dir) == [], (what, model, response.text)
    container = container_of(catalogue_api)
    assert catalogue_api.get("/v1/jobs").json() == []
    assert len(catalogue_api.get("/v1/uploads").json()) == 1  # the inline images were never stored
    assert container.models.loaded() == [] and container.models.loads == 0
    assert downloads == []


def test_vary_replay_and_upscale_are_held_to_the_catalogue(catalogue_api, container_of, tmp_path, settings, downloads):
    upload_id = _upload(catalogue_api)
    job = catalogue_api.post("/v1/generations", json={"prompt": "x", "upload_id": upload_id, "model": "house", **FAST})
    assert job.status_code == 202, job.text
    done = wait_for(catalogue_api, job.json()["id"])
    assert done["state"] == "succeeded" and done["request"]["model"] == "house"
    output = next(a for a in done["assets"] if a["kind"] == "output")
    for model in [*HOSTILE, str(settings.models_dir / "tiny")]:
        varied = catalogue_api.post(f"/v1/jobs/{done['id']}/vary", json={"changes": {"model": model}})
        upscaled = catalogue_api.post(f"/v1/assets/{output['id']}/upscale", json={"model": model, "method": "tiled_refine"})
        for response in (varied, upscaled):
            assert response.status_code == 422, (model, response.text)
            assert response.json()["error"]["code"] == "model_not_allowed"
            assert _leaks(response.text, tmp_path, settings.models_dir) == []
    assert len(catalogue_api.get("/v1/jobs").json()) == 1
    replay = catalogue_api.post(f"/v1/jobs/{done['id']}/replay")
    assert replay.status_code == 202 and replay.json()["request"]["model"] == "house"
    assert container_of(catalogue_api).models.loaded() == ["house"]
    assert catalogue_api.get("/v1/health").json()["models_loaded"] == ["house"]  # ids, not where the files are
    assert downloads == []


@pytest.mark.parametrize("model", ["gone", "empty", "hubbed"])
def test_a_job_failing_in_model_load_reports_no_path(catalogue_api, tmp_path, settings, downloads, model):
    upload_id = _upload(catalogue_api)
    response = catalogue_api.post("/v1/generations", json={"prompt": "x", "upload_id": upload_id, "model": model, **FAST})
    assert response.status_code == 202, response.text
    job = wait_for(catalogue_api, response.json()["id"])
    assert job["state"] == "failed"
    assert job["error"]["code"] == "model_not_found"
    assert job["error"]["message"] == f"model {model!r} could not be loaded (model_not_found)"
    events = json.dumps(job)
    assert _leaks(events, tmp_path, settings.models_dir) == []
    # offline: the local cache only (read at submission for the model's capabilities, and at load)
    assert set(downloads) == ({("someone/not-cached", True)} if model == "hubbed" else set())


def test_a_default_model_given_as_a_path_is_offered_under_its_folder_name(tmp_path, settings, tiny):
    folder = tmp_path / "house-model"
    folder.symlink_to(settings.models_dir / "tiny")
    server = make_settings(tmp_path / "home", settings.models_dir, default_model=str(folder))
    with TestClient(create_app(server)) as client:
        listed = client.get("/v1/models")
        assert {m["id"]: m["default"] for m in listed.json()} == {"house-model": True, "tiny": False}
        assert str(tmp_path) not in listed.text
        upload_id = _upload(client)
        job = client.post("/v1/generations", json={"prompt": "x", "upload_id": upload_id, **FAST})
        assert job.status_code == 202, job.text
        assert job.json()["request"]["model"] == "house-model"
        assert wait_for(client, job.json()["id"])["state"] == "succeeded"
