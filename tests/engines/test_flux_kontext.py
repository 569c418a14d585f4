"""FLUX.1 Kontext on its tiny random-weight model: the real FluxKontextPipeline pieces, offline, on the CPU."""

from __future__ import annotations

import shutil

import pytest
import torch

from photogen.domain.errors import UnsupportedControl
from photogen.domain.params import GenerationRequest
from photogen.engines.loader import load_generator
from photogen.engines.tiny import TINY_MARKER
from photogen.runner.context import RunContext
from photogen.runner.generate import prepare
from tests.engines.conftest import BATCH_TOLERANCE, decoded, difference, prepare_item, run

MODEL = "tiny-flux-kontext"


def request(**values) -> GenerationRequest:
    fields = {"prompt": "make the coat red", "seed": 7, "steps": 3, "guidance": 2.5, "image_strength": None,
              "model": MODEL, "aspect_ratio": "1:1", **values}
    return GenerationRequest(**fields)


def prepared(model, photos, **values):
    return prepare_item(model, photos, request, **values)


def test_capabilities_come_from_the_configs(kontext):
    caps = kontext.capabilities
    assert not caps.image_strength and not caps.negative_prompt and caps.max_references == 0
    assert caps.guidance == "embedded" and caps.prompt_kind == "instruction" and caps.schedulers == ("default",)
    assert caps.size_multiple == 16 and caps.native_pixels == 128 * 128 == kontext.info.native_pixels
    assert (caps.default_guidance, caps.default_steps) == (2.5, 28)
    assert kontext.info.family == "flux-kontext" and kontext.info.random_weights


def test_the_same_seed_gives_the_same_pixels(kontext, photos):
    item = prepared(kontext, photos, num_images=2)
    first, second = run(kontext, item), run(kontext, item)
    assert [a.tobytes() for a in first] == [b.tobytes() for b in second]
    assert difference(first[0], first[1]) > 20  # seeds 7 and 8 differ


def test_the_source_reaches_the_model(kontext, photos):
    base = run(kontext, prepared(kontext, photos))[0]
    assert difference(base, run(kontext, prepared(kontext, photos, source="coffee"))[0]) > 3 * BATCH_TOLERANCE
    assert difference(base, run(kontext, prepared(kontext, photos, prompt="a blue hat"))[0]) > 20


def test_a_batch_gives_each_request_its_own_pixels(kontext, photos):
    a = prepared(kontext, photos, seed=5)
    b = prepared(kontext, photos, source="cat", prompt="a blue hat", guidance=4.0, seed=9, num_images=2)
    together = kontext.generate([a, b])
    assert [len(images) for images in together] == [1, 2]
    assert difference(together[0][0], run(kontext, a)[0]) <= BATCH_TOLERANCE
    alone = run(kontext, b)
    assert max(difference(x, y) for x, y in zip(together[1], alone)) <= BATCH_TOLERANCE
    guidance_only = prepared(kontext, photos, seed=5, guidance=4.0)
    assert difference(run(kontext, guidance_only)[0], together[0][0]) > BATCH_TOLERANCE  # the scale is an input


def test_one_request_gives_the_stock_pipelines_pixels(kontext, photos):
    item = prepared(kontext, photos, num_images=2)
    width, height = item.size
    stock = kontext.pipeline(
        image=item.image, prompt=item.request.prompt, height=height, width=width, max_area=width * height,
        _auto_resize=False, num_inference_steps=item.request.steps, guidance_scale=item.request.guidance,
        num_images_per_prompt=2, generator=[torch.Generator().manual_seed(seed) for seed in item.request.seeds()],
    ).images
    assert [a.tobytes() for a in run(kontext, item)] == [b.tobytes() for b in stock]


def test_controls_it_lacks_are_refused(kontext, photos, models):
    source = decoded(photos["source"])
    reference = decoded(photos["coffee"])
    cases = [({"negative_prompt": "blurry"}, "negative_prompt"), ({"image_strength": 0.4}, "image_strength"),
             ({"references": [reference.sha256]}, "references")]
    for values, control in cases:
        with pytest.raises(UnsupportedControl) as refused:
            prepare(RunContext(models), source, request(**values), {})
        assert refused.value.control == control and MODEL in refused.value.message


def test_loads_from_a_folder(kontext, photos, settings, tmp_path):
    item = prepared(kontext, photos)
    folder = tmp_path / "kontext-folder"
    shutil.copytree(settings.models_dir / MODEL, folder)
    (folder / TINY_MARKER).unlink()
    loaded = load_generator(str(folder), settings)
    assert (loaded.info.source, loaded.info.family) == ("folder", "flux-kontext")
    assert run(loaded, item)[0].tobytes() == run(kontext, item)[0].tobytes()
