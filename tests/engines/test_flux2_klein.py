"""FLUX.2 [klein] on its tiny random-weight model: the real Flux2KleinPipeline pieces, offline, on the CPU."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from photogen.domain.errors import UnsupportedControl
from photogen.domain.params import GenerationRequest
from photogen.engines.loader import load_generator
from photogen.engines.tiny import TINY_MARKER
from photogen.runner.generate import prepare
from tests.engines.conftest import BATCH_TOLERANCE, decoded, difference, prepare_item, run

MODEL = "tiny-flux2-klein"


def request(**values) -> GenerationRequest:
    fields = {"prompt": "make the coat red", "seed": 7, "steps": 3, "guidance": 4.0, "image_strength": None,
              "model": MODEL, **values}
    return GenerationRequest(**fields)


def prepared(model, photos, *, references=("coffee",), **values):
    return prepare_item(model, photos, request, references=references, **values)


def test_capabilities_come_from_the_configs(klein):
    caps = klein.capabilities
    assert not caps.image_strength and caps.prompt_kind == "instruction"
    assert caps.max_references == 3 and caps.schedulers == ("default",)
    assert caps.size_multiple == 16  # 4 VAE blocks (x8) and 2x2 latent patches
    assert caps.native_pixels == 128 * 128 == klein.info.native_pixels
    assert caps.guidance == "cfg" and caps.negative_prompt  # the base model runs true CFG
    assert klein.info.family == "flux2-klein" and klein.info.random_weights


def test_sources_and_references_are_sized_for_the_model(klein, photos):
    item = prepared(klein, photos, references=("coffee", "cat"), aspect_ratio="3:2")
    assert item.size[0] % 16 == 0 and item.size[1] % 16 == 0
    assert len(item.references) == 2
    for reference, name in zip(item.references, ("coffee", "cat")):
        width, height = reference.size
        assert width % 16 == 0 and height % 16 == 0
        assert abs(width * height - 128 * 128) < 0.2 * 128 * 128
        original = photos[name].size
        assert abs(width / height - original[0] / original[1]) < 0.15  # each keeps its own shape


def test_the_same_seed_gives_the_same_pixels(klein, photos):
    item = prepared(klein, photos, num_images=2)
    first, second = run(klein, item), run(klein, item)
    assert [a.tobytes() for a in first] == [b.tobytes() for b in second]
    assert difference(first[0], first[1]) > 20  # seeds 7 and 8 differ


def test_references_reach_the_model(klein, photos):
    base = run(klein, prepared(klein, photos, references=("coffee",)))[0]
    other_reference = run(klein, prepared(klein, photos, references=("cat",)))[0]
    other_source = run(klein, prepared(klein, photos, references=("coffee",), source="cat", aspect_ratio="1:1"))[0]
    no_reference = run(klein, prepared(klein, photos, references=()))[0]
    assert difference(base, other_reference) > 3 * BATCH_TOLERANCE
    assert difference(base, other_source) > 3 * BATCH_TOLERANCE
    assert difference(base, no_reference) > 3 * BATCH_TOLERANCE


def test_a_batch_gives_each_request_its_own_pixels(klein, photos):
    a = prepared(klein, photos, references=("coffee",), seed=5)
    b = prepared(klein, photos, references=("cat",), source="coffee", aspect_ratio="1:1", prompt="a blue hat",
                 guidance=1.0,
                 negative_prompt="", seed=9, num_images=2)
    together = klein.generate([a, b])
    assert [len(images) for images in together] == [1, 2]
    assert difference(together[0][0], run(klein, a)[0]) <= BATCH_TOLERANCE
    alone = run(klein, b)
    assert max(difference(x, y) for x, y in zip(together[1], alone)) <= BATCH_TOLERANCE
    assert difference(together[0][0], together[1][0]) > 20


def test_one_request_gives_the_stock_pipelines_pixels(klein, photos):
    item = prepared(klein, photos, references=("coffee",), num_images=2)
    ours = run(klein, item)
    width, height = item.size
    stock = klein.pipeline(
        image=[item.image, *item.references], prompt=item.request.prompt, height=height, width=width,
        num_inference_steps=item.request.steps, guidance_scale=item.request.guidance, num_images_per_prompt=2,
        generator=[torch.Generator().manual_seed(seed) for seed in item.request.seeds()],
    ).images
    assert [a.tobytes() for a in ours] == [b.tobytes() for b in stock]


def test_progress_counts_every_step(klein, photos):
    reported = []
    klein.generate([prepared(klein, photos, steps=3)], on_step=lambda done, total: reported.append((done, total)))
    assert reported == [(1, 3), (2, 3), (3, 3)]
    assert klein.capabilities.denoising_steps(request(steps=3)) == 3


def test_a_control_the_model_lacks_is_refused_before_it_runs(klein, photos, models):
    from photogen.runner.context import RunContext

    source = decoded(photos["source"])
    for values, control in [({"image_strength": 0.5}, "image_strength"), ({"scheduler": "euler"}, "scheduler")]:
        with pytest.raises(UnsupportedControl) as refused:
            prepare(RunContext(models), source, request(**values), {})
        assert refused.value.control == control and MODEL in refused.value.message


def test_loads_from_a_folder_and_from_a_hub_id_in_the_cache_layout(klein, photos, settings, tmp_path):
    item = prepared(klein, photos)
    expected = run(klein, item)[0]
    # a plain diffusers folder: no photogen marker, so nothing says it is the tiny model
    folder = tmp_path / "klein-folder"
    shutil.copytree(settings.models_dir / MODEL, folder)
    (folder / TINY_MARKER).unlink()
    from_folder = load_generator(str(folder), settings)
    assert (from_folder.info.source, from_folder.info.family, from_folder.info.random_weights) == (
        "folder", "flux2-klein", False)
    assert run(from_folder, item)[0].tobytes() == expected.tobytes()
    # the hub cache's layout: models--owner--name/snapshots/<commit>/..., refs/main naming the commit
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--acme--klein-tiny"
    shutil.copytree(folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    hub_settings = settings.model_copy(update={"hub_cache": tmp_path / "hub", "offline": True})
    from_hub = load_generator("acme/klein-tiny", hub_settings)
    assert (from_hub.info.source, from_hub.info.id, from_hub.info.revision) == ("hub", "acme/klein-tiny", commit)
    assert run(from_hub, item)[0].tobytes() == expected.tobytes()
    assert json.loads((repo / "snapshots" / commit / "model_index.json").read_text())["_class_name"] == (
        "Flux2KleinPipeline")


def test_a_step_distilled_checkpoint_runs_one_pass_per_step_without_guidance(klein, photos, settings, tmp_path):
    folder = tmp_path / "klein-distilled"
    shutil.copytree(settings.models_dir / MODEL, folder)
    (folder / TINY_MARKER).unlink()
    index = json.loads((folder / "model_index.json").read_text())
    (folder / "model_index.json").write_text(json.dumps({**index, "is_distilled": True}))
    distilled = load_generator(str(folder), settings)
    caps = distilled.capabilities
    assert (caps.guidance, caps.negative_prompt, caps.default_steps, caps.default_guidance) == ("none", False, 4, 1.0)
    item = prepared(distilled, photos, steps=2, guidance=4.0, negative_prompt="")
    calls = []
    handle = distilled.pipeline.transformer.register_forward_hook(lambda *args: calls.append(1))
    try:
        ours = run(distilled, item)
    finally:
        handle.remove()
    assert len(calls) == 2  # one pass per step: no negative pass
    width, height = item.size
    stock = distilled.pipeline(
        image=[item.image, *item.references], prompt=item.request.prompt, height=height, width=width,
        num_inference_steps=2, guidance_scale=4.0, generator=[torch.Generator().manual_seed(item.request.seed)],
    ).images
    assert ours[0].tobytes() == stock[0].tobytes()


def test_optimisations_apply_to_the_transformer_and_keep_the_pixels(klein, photos, settings):
    from photogen.engines.base import ModelInfo
    from photogen.engines.families import family_named
    from photogen.engines.optimize import EngineOptions

    forced = EngineOptions(compile="on", compile_backend="eager", channels_last="on", fuse_qkv="on")
    optimised = family_named("flux2-klein").load_folder(
        settings.models_dir / MODEL, ModelInfo(MODEL, "flux2-klein", "tiny"), device="cpu", dtype="float32",
        options=forced)
    applied = optimised.info.extra["optimizations"]
    assert applied["denoiser"] == "transformer" and applied["fuse_qkv"] == "on"
    assert applied["channels_last"] == "vae only (a transformer has no convolutions)"
    assert applied["compile"]["regional"] == ["Flux2SingleTransformerBlock", "Flux2TransformerBlock"]
    assert applied["memory"] == {"quantize": "off", "cpu_offload": "off"}
    item = prepared(klein, photos, steps=2)
    assert difference(run(optimised, item)[0], run(klein, item)[0]) <= BATCH_TOLERANCE
