"""Everything a job could fail on later is refused at submission, with a 422 that names the field."""

import base64

import pytest

from tests.api.conftest import FAST


def _jobs(api) -> int:
    return len(api.get("/v1/jobs").json())


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"crop_preset": "not-a-preset"}, "crop_preset"),
        ({"crop_preset": "custom:３:２"}, "crop_preset"),
        ({"crop_preset": "poster:8x10in\n"}, "crop_preset"),
        ({"crop_box": [0, 0, 5000, 5000]}, "crop_box"),
        ({"aspect_ratio": "4:5\n"}, "aspect_ratio"),
        ({"aspect_ratio": "４:５"}, "aspect_ratio"),
        ({"aspect_ratio": "\u0664:\u0665"}, "aspect_ratio"),  # Arabic-Indic digits
        ({"callback_url": ""}, "callback_url"),
        ({"prompt": ""}, "prompt"),
    ],
)
def test_bad_values_are_refused_at_submission(api, astronaut_b64, fields, named):
    before = len(api.get("/v1/uploads").json())
    response = api.post("/v1/generations", json={"prompt": "a", "image": astronaut_b64, **FAST, **fields})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["message"].startswith(f"{named}:") or f"; {named}:" in error["message"], error
    assert _jobs(api) == 0
    assert len(api.get("/v1/uploads").json()) == before  # nothing stored for a refused request


def test_a_missing_prompt_says_it_is_required(api, astronaut_b64):
    response = api.post("/v1/generations", json={"image": astronaut_b64, **FAST})
    assert response.status_code == 422
    assert "prompt is required" in response.json()["error"]["message"]


def test_a_crop_box_outside_an_uploaded_photo_is_refused_and_the_upload_kept(api, astronaut_b64):
    upload = api.post("/v1/uploads", json={"image": astronaut_b64}).json()
    response = api.post("/v1/generations", json={"prompt": "a", "upload_id": upload["id"], **FAST,
                                                 "crop_box": [0, 0, upload["width"] + 8, 64]})
    assert response.status_code == 422 and response.json()["error"]["message"].startswith("crop_box:")
    assert api.get(f"/v1/uploads/{upload['id']}").status_code == 200


@pytest.mark.parametrize(("field", "values"), [("seed", [1, 1.5]), ("steps", [10, 20.25])])
def test_sweep_seeds_and_steps_must_be_whole_numbers(api, astronaut_b64, field, values):
    body = {"prompt": "a", "image": astronaut_b64, **FAST, "sweep": {"field": field, "values": values}}
    response = api.post("/v1/sweeps", json=body)
    assert response.status_code == 422, response.text
    assert "sweep" in response.json()["error"]["message"] and "whole numbers" in response.json()["error"]["message"]
    assert _jobs(api) == 0


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_base64_wrapped_at_76_columns_is_accepted(api, astronaut_bytes, newline):
    wrapped = base64.encodebytes(astronaut_bytes).decode().replace("\n", newline)
    assert newline in wrapped.strip()
    response = api.post("/v1/uploads", json={"image": wrapped})
    assert response.status_code == 201, response.text
    generation = api.post("/v1/generations", json={"prompt": "a", "image": wrapped, **FAST})
    assert generation.status_code == 202, generation.text


@pytest.mark.parametrize("garbage", ["not base64!", "aGk=\n\tx", "aGk= aGk="])
def test_other_garbage_in_base64_is_still_refused(api, garbage):
    response = api.post("/v1/uploads", json={"image": garbage})
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "image: not valid base64"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"image": 12}', "image: must be a valid string"),
        (b'{"image": ', "the JSON body is not valid JSON at line 1 column 11"),
        (b'[1]', "the JSON body must be an object"),
        (b'{"photo": "aGk="}', "photo: is not a field of a JSON upload (use image, url and filename)"),
    ],
)
def test_json_upload_errors_are_in_plain_words(api, raw, message):
    response = api.post("/v1/uploads", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["message"] == message
    assert "UploadJson" not in response.text and "validation error" not in response.text
