"""Qwen-Image-Edit-Plus on its tiny random-weight model: the real QwenImageEditPlusPipeline pieces (a Qwen2.5-VL
text encoder that reads the images, the MMDiT transformer, the Wan-style VAE), offline, on the CPU."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from PIL import Image

from photogen.domain.errors import UnsupportedControl
from photogen.domain.params import GenerationRequest
from photogen.engines.families import family_named
from photogen.engines.loader import inspect_model, load_generator
from photogen.engines.tiny import TINY_MARKER, tiny_config_folder
from photogen.runner.generate import prepare, prepare_request
from photogen.runner.records import output_record
from tests.engines.conftest import BATCH_TOLERANCE, decoded, difference, prepare_item, run

MODEL = "tiny-qwen-image-edit-plus"


def request(**values) -> GenerationRequest:
    fields = {"prompt": "make the coat red", "seed": 7, "steps": 3, "guidance": 4.0, "image_strength": None,
              "model": MODEL, "aspect_ratio": "1:1", **values}
    return GenerationRequest(**fields)


@pytest.fixture(scope="module")
def square(photos):
    """Square references: the stock pipeline re-derives each image's size, which keeps a square one as it is."""
    return {name: image.crop((0, 0, min(image.size), min(image.size))) for name, image in photos.items()}


def prepared(model, photos, *, references=("coffee",), **values):
    return prepare_item(model, photos, request, references=references, **values)


def test_capabilities_come_from_the_configs(qwen_edit):
    caps = qwen_edit.capabilities
    assert caps == family_named("qwen-image-edit-plus").capabilities_of(tiny_config_folder(MODEL))  # no weights
    assert not caps.image_strength and caps.prompt_kind == "instruction"
    assert caps.negative_prompt and caps.guidance == "cfg"  # true CFG
    assert caps.max_references == 2 and caps.schedulers == ("default",) and not caps.reference_strength
    assert caps.size_multiple == 8  # a VAE of scale 4 (two temporal downsamples) and 2x2 latent patches
    assert caps.native_pixels == 64 * 64 == qwen_edit.info.native_pixels
    assert (caps.default_guidance, caps.default_steps) == (4.0, 40)
    assert caps.min_steps == 2  # the scheduler's terminal shift divides by zero in a one-step schedule
    assert qwen_edit.info.family == "qwen-image-edit-plus" and qwen_edit.info.random_weights


def test_the_same_seed_gives_the_same_pixels(qwen_edit, square):
    item = prepared(qwen_edit, square, num_images=2)
    first, second = run(qwen_edit, item), run(qwen_edit, item)
    assert [a.tobytes() for a in first] == [b.tobytes() for b in second]
    assert difference(first[0], first[1]) > 20  # seeds 7 and 8 differ


def test_references_reach_the_model(qwen_edit, square):
    base = run(qwen_edit, prepared(qwen_edit, square, references=("coffee",)))[0]
    other_reference = run(qwen_edit, prepared(qwen_edit, square, references=("cat",)))[0]
    other_source = run(qwen_edit, prepared(qwen_edit, square, references=("coffee",), source="cat"))[0]
    no_reference = run(qwen_edit, prepared(qwen_edit, square, references=()))[0]
    assert difference(base, other_reference) > 3 * BATCH_TOLERANCE
    assert difference(base, other_source) > 3 * BATCH_TOLERANCE
    assert difference(base, no_reference) > 3 * BATCH_TOLERANCE


def test_the_text_encoder_reads_each_image(qwen_edit, square):
    """The VL encoder sees "Picture 1", "Picture 2" with each image's tokens: a reference changes the prompt's
    embedding, not only the image tokens beside the noise."""
    pipe = qwen_edit.pipeline
    source, coffee, cat = (square[name].resize((64, 64)) for name in ("source", "coffee", "cat"))
    with torch.inference_mode():
        coffee, _ = pipe.encode_prompt("make the coat red", image=[source, coffee])
        cat, _ = pipe.encode_prompt("make the coat red", image=[source, cat])
        alone, _ = pipe.encode_prompt("make the coat red", image=[source])
    assert coffee.shape == cat.shape and alone.shape[1] < coffee.shape[1]  # the second picture's tokens
    assert (coffee - cat).abs().max() > 1e-3


def test_a_batch_gives_each_request_its_own_pixels(qwen_edit, square):
    """The stock pipeline takes one prompt per call; a batch pads prompts of different lengths and masks the
    padding, so the transformer runs a masked attention: a batched image is within rounding of the one alone."""
    a = prepared(qwen_edit, square, references=("coffee",), seed=5)
    b = prepared(qwen_edit, square, references=("cat",), source="coffee", prompt="a blue hat on the cup",
                 guidance=1.0, seed=9, num_images=2)
    together = qwen_edit.generate([a, b])
    assert [len(images) for images in together] == [1, 2]
    assert difference(together[0][0], run(qwen_edit, a)[0]) <= BATCH_TOLERANCE
    alone = run(qwen_edit, b)
    assert max(difference(x, y) for x, y in zip(together[1], alone)) <= BATCH_TOLERANCE
    assert difference(together[0][0], together[1][0]) > 20


def test_one_request_gives_the_stock_pipelines_pixels(qwen_edit, square, monkeypatch):
    import diffusers.pipelines.qwenimage.pipeline_qwenimage_edit_plus as stock_module

    item = prepared(qwen_edit, square, references=("coffee", "cat"), num_images=2, negative_prompt="blurry")
    ours = run(qwen_edit, item)
    width, height = item.size
    # the stock pipeline reads every image at about 1024x1024, the real model's native size; the tiny model's is 64x64
    monkeypatch.setattr(stock_module, "VAE_IMAGE_SIZE", width * height)
    stock = qwen_edit.pipeline(
        image=[item.image, *item.references], prompt=item.request.prompt, negative_prompt="blurry",
        true_cfg_scale=item.request.guidance, height=height, width=width, num_inference_steps=item.request.steps,
        num_images_per_prompt=2, generator=[torch.Generator().manual_seed(seed) for seed in item.request.seeds()],
    ).images
    assert [a.tobytes() for a in ours] == [b.tobytes() for b in stock]


def test_progress_counts_every_step(qwen_edit, square):
    reported = []
    qwen_edit.generate([prepared(qwen_edit, square, steps=3)], on_step=lambda done, total: reported.append((done, total)))
    assert reported == [(1, 3), (2, 3), (3, 3)]


def test_controls_it_lacks_are_refused_before_it_runs(qwen_edit, photos, models):
    from photogen.runner.context import RunContext

    source = decoded(photos["source"])
    sha = ["a" * 64, "b" * 64, "c" * 64]
    for values, control in [({"image_strength": 0.5}, "image_strength"), ({"scheduler": "euler"}, "scheduler"),
                            ({"references": sha}, "references"), ({"steps": 1}, "steps")]:
        with pytest.raises(UnsupportedControl) as refused:
            prepare(RunContext(models), source, request(**values), {})
        assert refused.value.control == control and MODEL in refused.value.message


def test_loads_from_a_folder_and_from_a_hub_id_in_the_cache_layout(qwen_edit, square, settings, tmp_path):
    item = prepared(qwen_edit, square)
    expected = run(qwen_edit, item)[0]
    folder = tmp_path / "qwen-folder"
    shutil.copytree(settings.models_dir / MODEL, folder)
    (folder / TINY_MARKER).unlink()
    # the folder is in the layout Qwen's repositories have: the stock processor class and its files
    assert json.loads((folder / "model_index.json").read_text())["processor"] == ["transformers", "Qwen2VLProcessor"]
    preprocessor = json.loads((folder / "processor" / "preprocessor_config.json").read_text())
    assert preprocessor["image_processor_type"] == "Qwen2VLImageProcessor"
    assert (folder / "processor" / "tokenizer.json").is_file()
    from_folder = load_generator(str(folder), settings)
    assert (from_folder.info.source, from_folder.info.family, from_folder.info.random_weights) == (
        "folder", "qwen-image-edit-plus", False)
    assert run(from_folder, item)[0].tobytes() == expected.tobytes()
    commit = "89abcdef0123456789abcdef0123456789abcdef"
    repo = tmp_path / "hub" / "models--acme--qwen-edit-tiny"
    shutil.copytree(folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    hub_settings = settings.model_copy(update={"hub_cache": tmp_path / "hub", "offline": True})
    from_hub = load_generator("acme/qwen-edit-tiny", hub_settings)
    assert (from_hub.info.source, from_hub.info.id, from_hub.info.revision) == ("hub", "acme/qwen-edit-tiny", commit)
    assert run(from_hub, item)[0].tobytes() == expected.tobytes()


def test_qwen_image_edit_is_apache_licensed_for_commercial_use(qwen_edit, square, settings, tmp_path):
    folder = tmp_path / "Qwen-Image-Edit-2509"
    shutil.copytree(settings.models_dir / MODEL, folder)
    (folder / TINY_MARKER).unlink()
    (folder / "README.md").write_text("---\nlicense: apache-2.0\npipeline_tag: image-to-image\n---\n# Qwen-Image-Edit\n")
    facts = inspect_model(str(folder), settings)
    assert (facts.family, facts.licence, facts.commercial_use.use) == ("qwen-image-edit-plus", "apache-2.0", "allowed")
    model = load_generator(str(folder), settings)
    item = prepared(model, square, steps=1)
    record = output_record(item.request, prepare_request(decoded(square["source"]), item.request, model,
                                                         [decoded(square["coffee"])])[1], model, {})
    assert record["model"]["commercial_use"]["use"] == "allowed"
    assert record["model"]["commercial_use"]["licence"] == "Apache License 2.0"


def test_guidance_distilled_checkpoints_are_refused_with_a_reason(tmp_path):
    from photogen.domain.errors import UnsupportedModel

    folder = tmp_path / "distilled"
    shutil.copytree(tiny_config_folder(MODEL), folder)
    config = json.loads((folder / "transformer" / "config.json").read_text())
    (folder / "transformer" / "config.json").write_text(json.dumps({**config, "guidance_embeds": True}))
    with pytest.raises(UnsupportedModel, match="guidance_embeds"):
        family_named("qwen-image-edit-plus").capabilities_of(folder)


def test_outputs_are_the_sources_planned_size(qwen_edit, photos):
    item = prepared(qwen_edit, photos, references=("coffee",), aspect_ratio="3:2")
    width, height = item.size
    assert width % 8 == 0 and height % 8 == 0 and width > height
    (image,) = run(qwen_edit, replace_steps(item, 2))
    assert isinstance(image, Image.Image) and image.size == item.size


def replace_steps(item, steps: int):
    from dataclasses import replace

    return replace(item, request=item.request.model_copy(update={"steps": steps}))
