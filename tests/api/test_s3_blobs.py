"""The whole upload → generate → download → delete path with blobs in a real S3-compatible bucket (moto)."""

from __future__ import annotations

import io

import boto3
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from photogen.api.app import create_app
from photogen.store.blobs import FsspecBlobStore
from tests.api.conftest import FAST, make_settings, wait_for


@pytest.fixture
def s3_api(tmp_path, settings, tiny, s3_blob_url):
    with TestClient(create_app(make_settings(tmp_path / "home", settings.models_dir, blob_url=s3_blob_url))) as client:
        yield client


def bucket_keys(s3_server, blob_url: str) -> list[str]:
    """The keys under the store's prefix, listed by a plain boto3 client (no s3fs caches in between)."""
    prefix = blob_url.removeprefix(f"s3://{s3_server.bucket}/") + "/"
    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=s3_server.bucket, Prefix=prefix)
    return sorted(item["Key"].removeprefix(prefix) for page in pages for item in page.get("Contents", []))


def test_generation_round_trip_keeps_every_blob_in_the_bucket(s3_api, s3_server, astronaut_bytes, s3_blob_url, tmp_path):
    blobs = s3_api.app.state.container.blobs
    assert isinstance(blobs, FsspecBlobStore) and blobs.keys() == []
    response = s3_api.post("/v1/uploads", files={"file": ("astronaut.jpg", astronaut_bytes, "image/jpeg")})
    assert response.status_code == 201, response.text
    uploaded = response.json()
    job = s3_api.post("/v1/generations", json={"prompt": "a", "upload_id": uploaded["id"], **FAST}).json()
    done = wait_for(s3_api, job["id"])
    assert done["state"] == "succeeded", done

    content = s3_api.get(done["assets"][0]["url"])
    assert content.status_code == 200
    assert Image.open(io.BytesIO(content.content)).format == "PNG"

    # Listed by a separate client: the blobs are in the bucket, not in the server's home folder.
    stored = bucket_keys(s3_server, s3_blob_url)
    assert {key.split("/")[0] for key in stored} == {"originals", "previews", "assets"}, stored
    assert sorted(blobs.keys()) == stored, stored
    assert not (tmp_path / "home" / "blobs").exists()

    assert s3_api.delete(f"/v1/uploads/{uploaded['id']}").status_code == 200
    assert bucket_keys(s3_server, s3_blob_url) == []  # originals, previews and assets of the upload are gone
    assert blobs.keys() == []
