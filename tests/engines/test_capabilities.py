"""Capabilities: what a model's requests may use, and the refusal of controls it lacks."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace

import pytest
from PIL import Image

from photogen.domain.errors import UnsupportedControl
from photogen.domain.params import GenerationRequest
from photogen.engines.base import ALL_SCHEDULERS, Capabilities, PreparedRequest, batch_key, img2img_capabilities
from photogen.engines.controls import check_controls, fit_request
from photogen.engines.families import family_named
from photogen.engines.tiny import tiny_config_folder

EDIT = Capabilities(image_strength=False, negative_prompt=False, schedulers=("default",), size_multiple=16,
                    native_pixels=1024 * 1024, max_references=1, guidance="embedded", prompt_kind="instruction",
                    default_guidance=2.5, default_steps=28)
SHA = ["a" * 64, "b" * 64]


def test_sd_models_declare_img2img_from_their_configs(tiny):
    caps = tiny.capabilities
    assert caps.image_strength and caps.negative_prompt and caps.guidance == "cfg"
    assert caps.schedulers == ALL_SCHEDULERS and caps.size_multiple == 8
    assert caps.native_pixels == 128 * 128 == tiny.info.native_pixels
    assert caps.max_references == 0 and not caps.reference_strength
    assert caps.denoising_steps(GenerationRequest(prompt="x", steps=10, image_strength=0.7)) == 3


def test_edit_families_declare_theirs_from_configs_alone():
    klein = family_named("flux2-klein").capabilities_of(tiny_config_folder("tiny-flux2-klein"))
    assert not klein.image_strength and klein.max_references == 3 and klein.prompt_kind == "instruction"
    assert klein.denoising_steps(GenerationRequest(prompt="x", steps=10, image_strength=None)) == 10


@pytest.mark.parametrize(("values", "control"), [
    ({"image_strength": 0.5}, "image_strength"),
    ({"negative_prompt": "blurry"}, "negative_prompt"),
    ({"scheduler": "euler_a"}, "scheduler"),
    ({"references": SHA}, "references"),
    ({"references": SHA[:1], "reference_strength": 0.5}, "reference_strength"),
    ({"width": 520, "height": 512}, "width"),
])
def test_a_control_the_model_lacks_is_refused_naming_it_and_the_model(values, control):
    request = GenerationRequest(**{"prompt": "make it red", "image_strength": None, **values})
    with pytest.raises(UnsupportedControl) as refused:
        check_controls(request, EDIT, "kontext-dev")
    assert refused.value.control == control and refused.value.code == "unsupported_control"
    assert control in refused.value.message and "kontext-dev" in refused.value.message


def test_an_img2img_model_refuses_references_and_needs_a_strength():
    sd = img2img_capabilities(512 * 512)
    check_controls(GenerationRequest(prompt="x", negative_prompt="blurry", scheduler="ddim"), sd, "sd15")
    with pytest.raises(UnsupportedControl, match="references"):
        check_controls(GenerationRequest(prompt="x", references=SHA[:1]), sd, "sd15")
    with pytest.raises(UnsupportedControl, match="needs an image strength"):
        check_controls(GenerationRequest(prompt="x", image_strength=None), sd, "sd15")


def test_fitting_follows_the_model_where_the_caller_set_nothing():
    request = GenerationRequest(prompt="make it red", negative_prompt="from a recipe", guidance=7.0)
    fitted = fit_request(request, {"prompt"}, EDIT, "kontext-dev")
    assert fitted.image_strength is None and fitted.negative_prompt == ""
    assert (fitted.guidance, fitted.steps, fitted.denoising_steps) == (2.5, 28, 28)
    kept = fit_request(request.model_copy(update={"negative_prompt": ""}), {"prompt", "guidance", "steps"}, EDIT, "k")
    assert (kept.guidance, kept.steps) == (7.0, 30)
    with pytest.raises(UnsupportedControl, match="image_strength"):
        fit_request(request, {"prompt", "image_strength"}, EDIT, "kontext-dev")
    sd_request = GenerationRequest(prompt="x", image_strength=0.6)
    assert fit_request(sd_request, {"prompt"}, img2img_capabilities(512 * 512), "sd15") == sd_request


def test_requests_batch_only_with_the_same_number_and_sizes_of_references():
    source = Image.new("RGB", (64, 64))
    request = GenerationRequest(prompt="x", image_strength=None, seed=1, references=SHA[:1])
    one = PreparedRequest(request, source, (Image.new("RGB", (64, 64)),))
    same = PreparedRequest(request.model_copy(update={"prompt": "y", "seed": 2}), source, (Image.new("RGB", (64, 64)),))
    wider = PreparedRequest(request, source, (Image.new("RGB", (80, 48)),))
    two = PreparedRequest(request.model_copy(update={"references": tuple(SHA)}), source,
                          (Image.new("RGB", (64, 64)),) * 2)
    assert batch_key(one) == batch_key(same)
    assert len({batch_key(one), batch_key(wider), batch_key(two)}) == 3
    plain = GenerationRequest(prompt="x", seed=1)
    assert batch_key(PreparedRequest(plain, source)) == (plain.model, (64, 64), 30, 19, "default")  # as before


def test_capabilities_are_frozen_and_plain_data():
    with pytest.raises(FrozenInstanceError):
        EDIT.image_strength = True  # type: ignore[misc]
    assert replace(EDIT, max_references=2).as_dict()["max_references"] == 2
