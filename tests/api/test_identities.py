"""Identity sets through the API, on real photos: scikit-image's astronaut (Eileen Collins) and cameraman,
matplotlib's Grace Hopper; angle, distance and light variants made by mirroring, cropping and exposure."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from photogen.api.app import create_app
from photogen.intake import calibration
from photogen.scoring.identity import IDENTITY_DRIFT_THRESHOLD
from tests.api.conftest import make_settings


@pytest.fixture(scope="module")
def photos() -> dict[str, bytes]:
    """JPEG bytes by file name."""
    sample = calibration.sample_photos()
    astronaut, camera = sample["astronaut"], sample["camera"]
    close = cv2.resize(astronaut[40:260, 130:330], (400, 440), interpolation=cv2.INTER_CUBIC)  # the face fills half
    pixels = {
        "astronaut.jpg": astronaut,
        "astronaut-close.jpg": close,
        "astronaut-dim.jpg": calibration.exposure(astronaut, -1),
        "astronaut-mirrored.jpg": np.ascontiguousarray(astronaut[:, ::-1]),
        "grace_hopper.jpg": sample["grace_hopper"],
        "coffee.jpg": sample["coffee"],
        "camera.jpg": camera,
        "camera-mirrored.jpg": np.ascontiguousarray(camera[:, ::-1]),
    }
    return {name: calibration.jpeg_bytes(rgb, 92) for name, rgb in pixels.items()}


@pytest.fixture
def api(tmp_path, settings):
    """A server without a worker: identity sets need no model."""
    with TestClient(create_app(make_settings(tmp_path / "home", settings.models_dir, worker_enabled=False))) as client:
        yield client


@pytest.fixture(params=["sqlite", "postgresql"])
def api_on(request, tmp_path, settings):
    """The same, on SQLite and on PostgreSQL."""
    database = {} if request.param == "sqlite" else {"database_url": request.getfixturevalue("postgres_url")}
    values = make_settings(tmp_path / "home", settings.models_dir, worker_enabled=False, **database)
    with TestClient(create_app(values)) as client:
        yield client


def upload(api, photos, name, headers=None) -> str:
    response = api.post("/v1/uploads", files={"file": (name, photos[name], "image/jpeg")}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_the_coverage_report_counts_angles_distance_light_and_flags_somebody_else(api, photos):
    names = ["astronaut.jpg", "astronaut-close.jpg", "astronaut-dim.jpg", "grace_hopper.jpg", "coffee.jpg"]
    ids = {name: upload(api, photos, name) for name in names}
    response = api.post("/v1/identities", json={"name": "Eileen", "upload_ids": [ids[n] for n in names]})
    assert response.status_code == 201, response.text
    made = response.json()
    report = made["coverage"]
    members = {m["filename"]: m for m in made["members"]}
    assert [m["filename"] for m in made["members"]] == names  # in the order given

    # usable references: the coffee cup has no face
    assert report["references"] == {"total": 5, "usable": 4}
    assert not members["coffee.jpg"]["usable"] and "no face found" in members["coffee.jpg"]["reasons"][0]
    # angles: four faces looking at the camera, so both three-quarter angles are missing
    assert report["angles"] == {"straight_on": 4, "three_quarter_left": 0, "three_quarter_right": 0}
    assert any("three-quarter angle" in line and "left" in line for line in report["missing"])
    assert all(abs(m["measures"]["yaw_degrees"]) < 15 for m in made["members"] if m["usable"])
    # distance: the close crop's face fills half the frame, the others about a fifth to a third
    assert members["astronaut-close.jpg"]["distance"] == "close_up"
    assert members["astronaut-close.jpg"]["measures"]["face_share"] == pytest.approx(0.5, abs=0.05)
    assert members["astronaut.jpg"]["measures"]["face_share"] == pytest.approx(0.22, abs=0.03)
    assert report["distance"]["counts"] == {"close_up": 1, "head_and_shoulders": 3, "wide": 0}
    assert report["distance"]["spread"] == pytest.approx(0.28, abs=0.06)
    # light: one stop less exposure darkens the face by about 50 levels
    dim, clean = members["astronaut-dim.jpg"]["measures"], members["astronaut.jpg"]["measures"]
    assert clean["brightness"] - dim["brightness"] == pytest.approx(49, abs=8)
    assert report["lighting"]["brightness"]["spread"] >= clean["brightness"] - dim["brightness"]
    # consistency: Grace Hopper is flagged by name with her (much lower) score
    grace = members["grace_hopper.jpg"]
    assert grace["similarity"] < IDENTITY_DRIFT_THRESHOLD < min(members[n]["similarity"] for n in names[:3])
    assert grace["similarity"] == pytest.approx(0.18, abs=0.06)
    assert [(f["name"], f["level"]) for f in report["flags"]] == [("grace_hopper.jpg", "block")]
    assert f"{grace['similarity']:.2f}" in report["flags"][0]["message"]
    assert report["consistency"]["level"] == "block" and report["level"] == "block"
    assert len(report["consistency"]["pairs"]) == 6  # every pair of the four faces

    # the same report on reading, from the stored measures; the list shows the counts
    assert api.get(f"/v1/identities/{made['id']}").json()["coverage"] == report
    listed = api.get("/v1/identities").json()
    assert [(s["name"], s["references"], s["usable"]) for s in listed] == [("Eileen", 5, 4)]


def test_a_mirrored_face_turns_the_other_way(api, photos):
    ids = [upload(api, photos, name) for name in ("camera.jpg", "camera-mirrored.jpg")]
    made = api.post("/v1/identities", json={"name": "Cameraman", "upload_ids": ids}).json()
    first, mirrored = made["members"]
    assert first["measures"]["yaw_degrees"] > 30  # he looks into his camera, nose towards the photo's right
    assert mirrored["measures"]["yaw_degrees"] < -30
    assert (first["angle"], mirrored["angle"]) == ("three_quarter_right", "three_quarter_left")
    assert made["coverage"]["angles"] == {"straight_on": 0, "three_quarter_left": 1, "three_quarter_right": 1}
    assert "add a straight-on photo, looking into the camera" in made["coverage"]["missing"]
    assert made["coverage"]["flags"] == []  # the same man either way round
    assert first["similarity"] > IDENTITY_DRIFT_THRESHOLD


def test_a_set_without_a_usable_photo_is_refused(api, photos):
    coffee = upload(api, photos, "coffee.jpg")
    response = api.post("/v1/identities", json={"name": "Nobody", "upload_ids": [coffee]})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "no_usable_reference"
    assert "coffee.jpg: no face found" in error["message"] and error["hint"]
    assert api.get("/v1/identities").json() == []
    # the same rule holds for changes: the last usable reference cannot be taken out
    face = upload(api, photos, "astronaut.jpg")
    made = api.post("/v1/identities", json={"name": "Eileen", "upload_ids": [face, coffee]}).json()
    refused = api.patch(f"/v1/identities/{made['id']}", json={"remove": [face]})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "no_usable_reference"
    assert [m["upload_id"] for m in api.get(f"/v1/identities/{made['id']}").json()["members"]] == [face, coffee]


def test_other_owners_uploads_and_sets_answer_404(api, photos, container_of):
    keys = container_of(api).keys
    as_alice = {"Authorization": f"Bearer {keys.create('alice').key}"}
    as_bob = {"Authorization": f"Bearer {keys.create('bob').key}"}
    alices = upload(api, photos, "astronaut.jpg", headers=as_alice)
    bobs = upload(api, photos, "grace_hopper.jpg", headers=as_bob)
    foreign = api.post("/v1/identities", json={"name": "x", "upload_ids": [alices]}, headers=as_bob)
    assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "not_found"
    made = api.post("/v1/identities", json={"name": "Eileen", "upload_ids": [alices]}, headers=as_alice).json()
    added = api.patch(f"/v1/identities/{made['id']}", json={"add": [bobs]}, headers=as_alice)
    assert added.status_code == 404 and bobs in added.json()["error"]["message"]
    for method in ("get", "delete"):
        assert getattr(api, method)(f"/v1/identities/{made['id']}", headers=as_bob).status_code == 404
    assert api.patch(f"/v1/identities/{made['id']}", json={"name": "mine"}, headers=as_bob).status_code == 404
    assert api.get("/v1/identities", headers=as_bob).json() == []
    assert api.get(f"/v1/identities/{made['id']}", headers=as_alice).json()["name"] == "Eileen"


def test_rename_add_remove_reorder_and_delete(api, photos):
    a, m, d = (upload(api, photos, n) for n in ("astronaut.jpg", "astronaut-mirrored.jpg", "astronaut-dim.jpg"))
    made = api.post("/v1/identities", json={"name": "E", "upload_ids": [a]}).json()
    url = f"/v1/identities/{made['id']}"
    changed = api.patch(url, json={"name": "Eileen", "add": [m, d]}).json()
    assert changed["name"] == "Eileen" and [x["upload_id"] for x in changed["members"]] == [a, m, d]
    assert changed["coverage"]["consistency"]["level"] == "ok"
    changed = api.patch(url, json={"remove": [m]}).json()
    assert [x["upload_id"] for x in changed["members"]] == [a, d]
    assert [(h["action"], h["upload_id"]) for h in changed["history"]][-1] == ("removed", m)
    assert changed["history"][-1]["reason"] == "removed by the owner"
    reordered = api.patch(url, json={"upload_ids": [d, a]}).json()
    assert [(x["upload_id"], x["position"]) for x in reordered["members"]] == [(d, 0), (a, 1)]
    for body, words in [({}, "nothing to change"), ({"add": [a]}, "already a reference"),
                        ({"remove": [m]}, "not a reference"), ({"upload_ids": [a, a]}, "more than once"),
                        ({"add": [m], "upload_ids": [a]}, "not both"), ({"name": "   "}, "name")]:
        refused = api.patch(url, json=body)
        assert refused.status_code == 422 and words in refused.json()["error"]["message"], body
    assert api.delete(url).json() == {"deleted": {"references": 2, "records": 3}}
    assert api.get(url).status_code == 404
    assert len(api.get("/v1/uploads").json()) == 3  # the uploads stay


def test_deleting_an_upload_takes_it_out_of_its_sets_and_says_so(api_on, photos, container_of):
    api = api_on
    a, g = upload(api, photos, "astronaut.jpg"), upload(api, photos, "grace_hopper.jpg")
    made = api.post("/v1/identities", json={"name": "Eileen", "upload_ids": [a, g]}).json()
    assert api.delete(f"/v1/uploads/{g}").status_code == 200
    after = api.get(f"/v1/identities/{made['id']}").json()
    assert [x["upload_id"] for x in after["members"]] == [a]
    removed = after["history"][-1]
    assert (removed["action"], removed["upload_id"], removed["filename"]) == ("removed", g, None)
    assert removed["reason"] == "upload deleted: requested by the owner"
    assert after["coverage"]["flags"] == [] and after["coverage"]["references"] == {"total": 1, "usable": 1}
    # the embedding of the deleted face is gone with it
    from sqlalchemy import select

    from photogen.store.tables import AuditEvent, IdentitySetMember

    with container_of(api).db.session() as session:
        rows = list(session.scalars(select(IdentitySetMember).where(IdentitySetMember.upload_id == g)))
        audit = session.scalars(select(AuditEvent).where(AuditEvent.subject == f"upload:{g}")).one()
    assert [row.measures for row in rows] == [None]
    assert audit.details["identity_sets"] == 1
    # the owner's export has the set with its history, the references' measures but no face embeddings
    import io
    import json
    import zipfile

    manifest = json.loads(zipfile.ZipFile(io.BytesIO(api.get("/v1/me/export").content)).read("photogen-export.json"))
    [exported] = manifest["identity_sets"]
    assert exported["name"] == "Eileen" and [m["upload_id"] for m in exported["members"]] == [a, g]
    kept, gone = exported["members"]
    assert kept["measures"]["measures"]["face_share"] > 0 and "embedding" not in kept["measures"]
    assert gone["measures"] is None and gone["removed_reason"] == "upload deleted: requested by the owner"
    # once the last reference is deleted the set stays, empty, with its history
    assert api.delete(f"/v1/uploads/{a}").status_code == 200
    empty = api.get(f"/v1/identities/{made['id']}").json()
    assert empty["members"] == [] and empty["coverage"]["level"] == "block"
    assert [h["action"] for h in empty["history"]] == ["added", "added", "removed", "removed"]


def test_retention_takes_old_references_out_and_names_itself(api, photos, container_of):
    from datetime import datetime, timedelta, timezone

    a = upload(api, photos, "astronaut.jpg")
    made = api.post("/v1/identities", json={"name": "Eileen", "upload_ids": [a]}).json()
    privacy = container_of(api).privacy
    privacy.set_retention("local", originals_days=30, outputs_days=None)
    assert privacy.purge(now=datetime.now(timezone.utc) + timedelta(days=31))["uploads"] == 1
    removed = api.get(f"/v1/identities/{made['id']}").json()["history"][-1]
    assert (removed["action"], removed["by"]) == ("removed", "retention")
    assert removed["reason"] == "upload deleted: retention: originals after 30 days"
