import pytest

from photogen.domain.errors import InvalidRequest
from photogen.domain.params import GenerationRequest, denoising_steps, parse_aspect_ratio


def test_defaults_are_valid_and_strength_maps_to_denoising():
    request = GenerationRequest(prompt="a portrait", image_strength=0.7)
    assert request.denoising_strength == pytest.approx(0.3)
    assert request.denoising_steps == 9  # int(30 * 0.3)


@pytest.mark.parametrize(
    ("steps", "image_strength", "expected"),
    [(30, 0.3, 21), (100, 0.71, 29), (10, 0.0, 10), (40, 0.25, 30), (7, 0.5, 3), (50, 0.99, 0)],
)
def test_denoising_steps_rule(steps, image_strength, expected):
    # int(steps * (1 - image_strength)), without float artefacts such as 30 * 0.7 = 20.999...
    assert denoising_steps(steps, image_strength) == expected


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"image_strength": 1.5}, "image_strength", "less than or equal to 1"),
        ({"image_strength": -0.1}, "image_strength", "greater than or equal to 0"),
        ({"prompt": ""}, "prompt", "prompt is required"),
        ({"steps": 0}, "steps", "greater than or equal to 1"),
        ({"num_images": 17}, "num_images", "less than or equal to 16"),
        ({"seed": -1}, "seed", "greater than or equal to 0"),
        ({"guidance": 31}, "guidance", "less than or equal to 30"),
        ({"aspect_ratio": "wide"}, "aspect_ratio", "not of the form W:H"),
        ({"aspect_ratio": "10:1"}, "aspect_ratio", "outside 1:4 .. 4:1"),
        ({"width": 500, "height": 512}, "width", "not a multiple of 8; try 496"),
        ({"width": 512}, "request", "both width and height"),
        ({"width": 512, "height": 512, "aspect_ratio": "1:1"}, "request", "not both"),
        ({"image_strength": 1.0}, "request", "leaves no denoising step"),
        ({"scheduler": "magic"}, "scheduler", "euler"),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
    ],
)
def test_bad_values_are_refused_with_the_field_named(values, field, words):
    with pytest.raises(InvalidRequest) as caught:
        GenerationRequest.parse({"prompt": "a portrait", **values})
    assert caught.value.code == "invalid_request"
    assert f"{field}:" in caught.value.message
    assert words in caught.value.message


def test_strength_too_high_for_the_steps_suggests_the_limit():
    with pytest.raises(InvalidRequest) as caught:
        GenerationRequest.parse({"prompt": "x", "steps": 4, "image_strength": 0.9})
    assert "image_strength <= 0.75" in caught.value.message


def test_seeds_count_up_from_the_first():
    request = GenerationRequest(prompt="x", seed=2**32 - 2, num_images=3)
    assert request.seeds() == [2**32 - 2, 2**32 - 1, 0]
    with pytest.raises(InvalidRequest):
        GenerationRequest(prompt="x").seeds()


def test_aspect_ratio_forms():
    assert parse_aspect_ratio("4:5") == (4.0, 5.0)
    assert parse_aspect_ratio("1.91:1") == (1.91, 1.0)
    assert parse_aspect_ratio("16x9") == (16.0, 9.0)
    with pytest.raises(ValueError):
        parse_aspect_ratio("0:5")
