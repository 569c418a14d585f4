"""Privacy: no GPS on any path out, retention purges with audit entries, exports that round-trip."""

import io
import json
import re
import zipfile
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from photogen.api.app import create_app
from photogen.store.tables import Asset, AuditEvent, Job, Upload
from tests.api.conftest import FAST, make_settings, wait_for


def jpeg_with_gps(array) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "EOS R6"
    exif[0x8825] = {1: "N", 2: (52.0, 22.0, 0.0), 3: "E", 4: (4.0, 53.0, 0.0)}
    exif.get_ifd(0x8769)[0xA431] = "SERIAL-123456"  # body serial number
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG", exif=exif, quality=92)
    return buffer.getvalue()


def has_gps_or_serial(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as image:
        exif = image.getexif()
        return bool(exif.get_ifd(0x8825)) or "SERIAL-123456" in str(dict(exif.get_ifd(0x8769))) or b"SERIAL-123456" in data


@pytest.fixture
def gps_photo(astronaut_array):
    data = jpeg_with_gps(astronaut_array)
    assert has_gps_or_serial(data)
    return data


@pytest.fixture
def strip_api(tmp_path, settings, tiny):
    with TestClient(create_app(make_settings(tmp_path / "home", settings.models_dir, original_exif="strip"))) as client:
        yield client


def upload(api, data):
    response = api.post("/v1/uploads", files={"file": ("gps.jpg", data, "image/jpeg")})
    assert response.status_code == 201, response.text
    return response.json()


def test_no_download_path_carries_gps_and_the_owners_export_gives_the_original_back(api, gps_photo):
    uploaded = upload(api, gps_photo)
    assert "gps" in " ".join(uploaded["preflight"]["metadata"]["removed_from_derivatives"]).lower()
    job = wait_for(api, api.post("/v1/generations", json={"prompt": "a", "upload_id": uploaded["id"], **FAST}).json()["id"])
    served = [api.get(f"/v1/uploads/{uploaded['id']}/preview").content]
    served += [api.get(asset["url"]).content for asset in job["assets"]]
    up = wait_for(api, api.post(f"/v1/assets/{job['assets'][-1]['id']}/upscale", json={"factor": 2, "method": "lanczos"}).json()["id"])
    served += [api.get(asset["url"]).content for asset in up["assets"]]
    export = zipfile.ZipFile(io.BytesIO(api.get("/v1/me/export").content))
    served += [export.read(name) for name in export.namelist() if name.startswith("assets/")]
    assert len(served) >= 6
    for data in served:
        assert not has_gps_or_serial(data)
    # the owner's own copy: the EXIF policy keeps originals (the default), so the upload comes back byte for byte
    manifest = json.loads(export.read("photogen-export.json"))
    entry = manifest["uploads"][0]["export"]
    assert entry["original"] == "byte_for_byte" and export.read(entry["file"]) == gps_photo
    assert manifest["originals"] == {"policy": "keep", "byte_for_byte": [uploaded["id"]], "gps_stripped": []}


def test_strip_mode_keeps_no_gps_even_in_the_protected_store(strip_api, gps_photo):
    uploaded = upload(strip_api, gps_photo)
    container = strip_api.app.state.container
    with container.db.session() as session:
        stored = container.blobs.get(session.get(Upload, uploaded["id"]).blob_key)
    assert stored != gps_photo and not has_gps_or_serial(stored)
    with Image.open(io.BytesIO(stored)) as image:
        assert image.size == (512, 512) and "EOS R6" in image.getexif().get(0x0110)  # the camera model may stay
    export = zipfile.ZipFile(io.BytesIO(strip_api.get("/v1/me/export").content))
    manifest = json.loads(export.read("photogen-export.json"))
    entry = manifest["uploads"][0]["export"]
    assert entry["original"] == "gps_stripped" and manifest["originals"]["policy"] == "strip"
    assert export.read(entry["file"]) == stored and not has_gps_or_serial(stored)


def test_an_upload_kept_whole_is_exported_stripped_once_the_policy_strips(api, gps_photo):
    from photogen.services.privacy import PrivacyService

    uploaded = upload(api, gps_photo)  # stored byte for byte under the default policy
    container = api.app.state.container
    stripping = PrivacyService(container.db, container.blobs, container.uploads, originals_days=None,
                               outputs_days=None, original_exif="strip")
    with zipfile.ZipFile(stripping.export("local")) as export:
        manifest = json.loads(export.read("photogen-export.json"))
        entry = manifest["uploads"][0]["export"]
        assert entry["original"] == "gps_stripped" and manifest["originals"]["gps_stripped"] == [uploaded["id"]]
        data = export.read(entry["file"])
    assert data != gps_photo and not has_gps_or_serial(data) and entry["file"].endswith(".jpg")
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (512, 512)


def test_retention_purges_everything_after_the_period_and_audits_it(api, astronaut_bytes, coffee_png):
    container = api.app.state.container
    assert api.put("/v1/me/retention", json={"originals_days": 30, "outputs_days": None}).json()["originals_days"] == 30
    old = upload(api, astronaut_bytes)
    wait_for(api, api.post("/v1/generations", json={"prompt": "a", "upload_id": old["id"], **FAST, "num_images": 2}).json()["id"])
    with container.db.session() as session:  # this upload was made 31 days ago
        session.get(Upload, old["id"]).created_at = datetime.now(timezone.utc) - timedelta(days=31)
    fresh = api.post("/v1/uploads", files={"file": ("coffee.png", coffee_png.read_bytes(), "image/png")}).json()
    counts = container.privacy.purge()
    assert counts == {"uploads": 1, "assets": 3, "jobs": 1, "blobs": 4}
    with container.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Upload)) == 1
        assert session.scalar(select(func.count()).select_from(Job)) == 0
        assert session.scalar(select(func.count()).select_from(Asset)) == 0
    kept = container.blobs.keys()  # the fresh upload's original and its previews; nothing of the old one
    assert kept[0] == f"originals/local/{fresh['sha256']}"
    assert kept[1:] and all(key.startswith(f"previews/local/{fresh['sha256']}/") for key in kept[1:])
    assert not any(old["sha256"] in key for key in kept)
    entries = api.get("/v1/me/audit").json()
    purged = next(e for e in entries if e["action"] == "upload.deleted")
    assert purged["actor"] == "retention" and purged["subject"] == f"upload:{old['id']}"
    assert "30 days" in purged["reason"] and purged["details"]["assets"] == 3
    assert "astronaut" not in json.dumps(entries)  # no content, no file names


def test_output_retention_removes_outputs_but_keeps_the_upload(api, astronaut_bytes):
    container = api.app.state.container
    api.put("/v1/me/retention", json={"originals_days": None, "outputs_days": 7})
    kept = upload(api, astronaut_bytes)
    job = wait_for(api, api.post("/v1/generations", json={"prompt": "a", "upload_id": kept["id"], **FAST}).json()["id"])
    assert container.privacy.purge()["assets"] == 0
    later = datetime.now(timezone.utc) + timedelta(days=8)
    assert container.privacy.purge(now=later)["assets"] == 1
    assert api.get(f"/v1/uploads/{kept['id']}").status_code == 200
    remaining = api.get(f"/v1/jobs/{job['id']}").json()["assets"]
    assert [a["kind"] for a in remaining] == ["crop"]
    with container.db.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "asset.purged")) == 1


def test_the_export_round_trips(api, astronaut_bytes):
    uploaded = upload(api, astronaut_bytes)
    job = wait_for(api, api.post("/v1/generations", json={"prompt": "export me", "upload_id": uploaded["id"], **FAST}).json()["id"])
    archive = zipfile.ZipFile(io.BytesIO(api.get("/v1/me/export").content))
    manifest = json.loads(archive.read("photogen-export.json"))
    assert manifest["owner"] == "local"
    assert [u["id"] for u in manifest["uploads"]] == [uploaded["id"]] and manifest["uploads"][0]["sha256"] == uploaded["sha256"]
    assert [j["id"] for j in manifest["jobs"]] == [job["id"]] and manifest["jobs"][0]["request"]["prompt"] == "export me"
    files = {asset["id"]: asset["file"] for asset in manifest["assets"]}
    for asset in job["assets"]:
        download = api.get(asset["url"])
        # one name scheme: the zip entry is named as the download is
        name = download.headers["content-disposition"].split('filename="')[1].rstrip('"')
        assert files[asset["id"]] == f"assets/{job['id']}/{name}"
        seed = f"_s{asset['seed']}" if asset["seed"] is not None else ""
        kind = "" if asset["kind"] == "output" else f"_{asset['kind']}"
        assert re.fullmatch(rf"\d{{8}}-\d{{6}}_{job['id'][:8]}_{asset['index']:02d}{seed}{kind}\.png", name), name
        assert archive.read(files[asset["id"]]) == download.content
    assert archive.read(f"uploads/{uploaded['id']}.jpg") == astronaut_bytes
    assert "blob_key" not in manifest["uploads"][0] and "error_detail" not in manifest["jobs"][0]


def test_content_credentials_validate_and_name_the_source(tmp_path, settings, tiny, astronaut_bytes):
    from photogen.outputs import read_record

    server = make_settings(tmp_path / "home", settings.models_dir, content_credentials=True)
    with TestClient(create_app(server)) as api:
        uploaded = upload(api, astronaut_bytes)
        job = wait_for(api, api.post("/v1/generations", json={"prompt": "a", "upload_id": uploaded["id"], **FAST,
                                                              "crop_preset": "headshot"}).json()["id"])
        output = next(a for a in job["assets"] if a["kind"] == "output")
        report = api.get(f"/v1/assets/{output['id']}/credentials").json()
        png = api.get(output["url"]).content
    assert report["valid"] and report["trusted"] and report["development"]
    assert report["software"].startswith("photogen")
    assert [a["action"] for a in report["actions"]] == ["c2pa.opened", "c2pa.cropped", "c2pa.edited"]
    assert [i["sha256"] for i in report["ingredients"]] == [uploaded["sha256"]]
    path = tmp_path / "signed.png"
    path.write_bytes(png)
    assert read_record(path)["seed"] == FAST["seed"]  # our own record survives signing
    assert (tmp_path / "home" / "credentials").is_dir()
