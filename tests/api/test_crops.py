"""Preflight on upload, previews, crop suggestions and generation from a preset or a moved box."""

import io

from PIL import Image

from tests.api.conftest import FAST, wait_for


def upload(api, data, use="general"):
    response = api.post(f"/v1/uploads?use={use}", files={"file": ("portrait.jpg", data, "image/jpeg")})
    assert response.status_code == 201, response.text
    return response.json()


def exif_rotated_with_gps(astronaut_array) -> bytes:
    image = Image.fromarray(astronaut_array[:, :400])  # 400 wide, 512 high
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown turned 90 degrees clockwise
    exif[0x8825] = {1: "N", 2: (52.0, 22.0, 0.0)}  # GPS
    buffer = io.BytesIO()
    image.transpose(Image.Transpose.ROTATE_90).save(buffer, "JPEG", exif=exif, quality=92)
    return buffer.getvalue()


def test_the_upload_answer_carries_the_preflight_report(api, astronaut_bytes):
    report = upload(api, astronaut_bytes, use="headshot")["preflight"]
    assert report["use"] == "headshot"
    assert report["level"] in ("ok", "warn", "block")
    names = {check["name"] for check in report["checks"]}
    assert {"resolution", "sharpness"} <= names
    assert len(report["faces"]) == 1
    for check in report["checks"]:
        assert {"name", "level", "value", "threshold", "fix"} <= set(check)


def test_an_unknown_use_is_refused(api, astronaut_bytes):
    response = api.post("/v1/uploads?use=selfie-stick", files={"file": ("a.jpg", astronaut_bytes, "image/jpeg")})
    assert response.status_code == 400 and "selfie-stick" in response.json()["error"]["message"]


def test_preview_is_upright_and_carries_no_exif_or_gps(api, astronaut_array):
    uploaded = upload(api, exif_rotated_with_gps(astronaut_array))
    assert (uploaded["width"], uploaded["height"]) == (400, 512)
    response = api.get(f"/v1/uploads/{uploaded['id']}/preview?long_side=256")
    assert response.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(response.content)) as preview:
        assert preview.size == (200, 256)
        assert not preview.getexif()
        assert "exif" not in preview.info


def test_presets_and_a_headshot_suggestion_on_the_face(api, astronaut_bytes):
    names = [preset["name"] for preset in api.get("/v1/presets").json()]
    assert "headshot" in names and "product-hero" in names
    uploaded = upload(api, astronaut_bytes)
    suggestion = api.get(f"/v1/uploads/{uploaded['id']}/crop?preset=headshot").json()
    left, top, right, bottom = suggestion["box"]
    assert suggestion["anchor"] == "face" and suggestion["source_size"] == [512, 512]
    assert abs((right - left) / (bottom - top) - 0.8) < 0.01
    face_x, face_y, face_w, face_h = 178, 63, 90, 114  # YuNet's box on this photo
    assert left <= face_x and top <= face_y and right >= face_x + face_w and bottom >= face_y + face_h
    bad = api.get(f"/v1/uploads/{uploaded['id']}/crop?preset=wide-angle")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "unknown_preset"


def test_generate_with_a_preset_and_with_a_moved_box(api, astronaut_bytes):
    upload_id = upload(api, astronaut_bytes)["id"]
    suggestion = api.get(f"/v1/uploads/{upload_id}/crop?preset=headshot").json()
    by_preset = api.post("/v1/generations", json={"prompt": "a", "upload_id": upload_id, "crop_preset": "headshot", **FAST}).json()
    moved = [suggestion["box"][0] + 20, suggestion["box"][1], suggestion["box"][2] + 20, suggestion["box"][3]]
    by_box = api.post("/v1/generations", json={"prompt": "a", "upload_id": upload_id, "crop_box": moved, **FAST}).json()
    preset_job, box_job = wait_for(api, by_preset["id"]), wait_for(api, by_box["id"])
    assert preset_job["state"] == box_job["state"] == "succeeded"
    # The job's box has the model's output ratio (sides in multiples of 8), so it may be a few pixels narrower.
    assert all(abs(a - b) <= 5 for a, b in zip(preset_job["crop"]["box"], suggestion["box"]))
    left, top, right, bottom = box_job["crop"]["box"]
    width, height = box_job["crop"]["output_size"]
    assert moved[0] <= left and moved[1] <= top and right <= moved[2] and bottom <= moved[3]
    assert abs((right - left) / (bottom - top) - width / height) < 0.01
    outside = api.post("/v1/generations", json={"prompt": "a", "upload_id": upload_id, "crop_box": [0, 0, 600, 400], **FAST})
    assert outside.status_code == 422  # refused at submission, not in the worker
    assert outside.json()["error"]["message"].startswith("crop_box: [0, 0, 600, 400] reaches outside")
    both = api.post("/v1/generations", json={"prompt": "a", "upload_id": upload_id, "crop_box": moved, "aspect_ratio": "1:1"})
    assert both.status_code == 422 and "leave aspect_ratio out" in both.json()["error"]["message"]
