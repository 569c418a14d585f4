"""Leftovers: partial files and empty folders swept at start, honest dry-run counts, no deleted text in the WAL."""

import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from photogen.api.app import create_app
from photogen.store.tables import Asset, Upload
from tests.api.conftest import FAST, wait_for

HOUR_AGO = time.time() - 3600


def test_start_sweeps_old_partial_files_and_empty_folders(server_settings, astronaut_bytes):
    with TestClient(create_app(server_settings)) as client:
        kept = client.post("/v1/uploads", files={"file": ("a.jpg", astronaut_bytes, "image/jpeg")}).json()
        root = Path(client.app.state.container.blobs.root)
    stale = root / "originals" / "local" / ".partial-abc123"
    fresh = root / "originals" / "local" / ".partial-def456"
    empty_job = root / "assets" / "local" / "0123456789abcdef"
    for path in (stale, fresh):
        path.write_bytes(b"half a photo")
    empty_job.mkdir(parents=True)
    for path in (stale, empty_job, empty_job.parent, empty_job.parent.parent):
        os.utime(path, (HOUR_AGO, HOUR_AGO))  # left by a crash an hour ago

    with TestClient(create_app(server_settings)) as client:
        assert not stale.exists() and not empty_job.exists() and not (root / "assets").exists()
        assert fresh.exists()  # may be a write under way in another process
        kept_blobs = [key for key in client.app.state.container.blobs.keys() if not key.startswith("previews/")]
        assert kept_blobs == [f"originals/local/{kept['sha256']}"]


def test_a_dry_run_counts_what_the_real_purge_removes(api, astronaut_bytes, coffee_png):
    container = api.app.state.container
    api.put("/v1/me/retention", json={"originals_days": 30, "outputs_days": 7})
    old = api.post("/v1/uploads", files={"file": ("a.jpg", astronaut_bytes, "image/jpeg")}).json()
    twin = api.post("/v1/uploads", files={"file": ("b.jpg", astronaut_bytes, "image/jpeg")}).json()  # same blob
    fresh = api.post("/v1/uploads", files={"file": ("c.png", coffee_png.read_bytes(), "image/png")}).json()
    for upload_id in (old["id"], twin["id"], fresh["id"]):
        wait_for(api, api.post("/v1/generations", json={"prompt": "a", "upload_id": upload_id, **FAST,
                                                          "num_images": 2}).json()["id"])
    month_ago = datetime.now(timezone.utc) - timedelta(days=31)
    with container.db.session() as session:
        for upload_id in (old["id"], twin["id"]):
            session.get(Upload, upload_id).created_at = month_ago
        for asset in session.query(Asset).filter(Asset.upload_id == fresh["id"]):
            asset.created_at = month_ago  # the fresh upload's outputs are past their 7 days
    def stored() -> int:  # originals and assets; previews go with their original and are not counted
        return len([key for key in container.blobs.keys() if not key.startswith("previews/")])

    blobs_before = stored()

    dry = container.privacy.purge(dry_run=True)
    assert stored() == blobs_before  # a dry run removes nothing
    real = container.privacy.purge()
    assert dry == real
    assert real == {"uploads": 2, "jobs": 2, "assets": 6 + 2, "blobs": 1 + 6 + 2}  # one shared original, 3 blobs per job, 2 outputs
    assert blobs_before - stored() == real["blobs"]


def _database_bytes(container) -> bytes:
    path = Path(make_url(container.db.url).database)
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_deleted_prompts_and_file_names_leave_the_database_and_its_wal(api, astronaut_bytes):
    container = api.app.state.container
    name, prompt = b"quokka-zebra-7731.jpg", b"marmalade xylophone 4411"
    uploaded = api.post("/v1/uploads", files={"file": (name.decode(), astronaut_bytes, "image/jpeg")}).json()
    job = api.post("/v1/generations", json={"prompt": prompt.decode(), "upload_id": uploaded["id"], **FAST}).json()
    assert wait_for(api, job["id"])["state"] == "succeeded"
    stored = _database_bytes(container)
    assert name in stored and prompt in stored  # the search below can find them
    assert api.delete(f"/v1/uploads/{uploaded['id']}").status_code == 200
    remaining = _database_bytes(container)
    assert name not in remaining and prompt not in remaining
