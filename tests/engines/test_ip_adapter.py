"""IP-Adapter on the tiny SD 1.x and SDXL models: tiny random adapters (IP-Adapter and IP-Adapter Plus Face) and a
tiny CLIP image encoder saved as h94/IP-Adapter lays them out, loaded with diffusers' load_ip_adapter."""

from __future__ import annotations

import json
import struct

import pytest
import torch

from photogen.config import Settings
from photogen.domain.errors import ModelNotFound, UnsupportedControl, UnsupportedModel
from photogen.domain.params import GenerationRequest
from photogen.engines.controls import fit_request
from photogen.engines.ip_adapter import IPAdapterFiles, join_spec, split_spec
from photogen.engines.loader import cache_key, inspect_model, load_generator
from photogen.runner.generate import prepare_request
from photogen.runner.records import output_record
from photogen.services.catalogue import ModelCatalogue
from tests.engines.conftest import BATCH_TOLERANCE, decoded, difference, prepare_item, run
from tests.engines.tiny_ip_adapter import build_tiny_ip_adapter


@pytest.fixture(scope="module")
def adapters(tiny, tmp_path_factory):
    """The tiny SD model's two adapters, in one h94-style folder: {"plain": weights, "plus": weights}."""
    folder = tmp_path_factory.mktemp("IP-Adapter")
    unet = tiny.pipeline.unet
    return {"plain": build_tiny_ip_adapter(unet, folder), "plus": build_tiny_ip_adapter(unet, folder, plus=True)}


@pytest.fixture(scope="module", params=["plain", "plus"])
def adapted(request, adapters, models):
    """The tiny SD model with an IP-Adapter (param plain) or an IP-Adapter Plus Face (param plus)."""
    return models.get(join_spec("tiny", str(adapters[request.param])))


def adapter_request(**values) -> GenerationRequest:
    fields = {"prompt": "a portrait", "seed": 7, "steps": 4, "image_strength": 0.3, "model": "tiny", "width": 64,
              "height": 64, **values}
    return GenerationRequest(**fields)


def prepared(model, photos, *, references=("coffee",), **values):
    return prepare_item(model, photos, adapter_request, references=references, **values)


def test_specs_name_the_model_and_its_adapter():
    assert split_spec("tiny+ip-adapter=/m/ip.safetensors") == ("tiny", "/m/ip.safetensors")
    assert split_spec("/m/sd15.safetensors") == ("/m/sd15.safetensors", None)
    assert join_spec("acme/sd15", "w.safetensors") == "acme/sd15+ip-adapter=w.safetensors"
    settings = Settings(models={"faces": {"model": "tiny", "ip_adapter": "/m/ip.safetensors"}, "plain": "tiny"})
    assert settings.models == {"faces": "tiny+ip-adapter=/m/ip.safetensors", "plain": "tiny"}
    with pytest.raises(ValueError, match="ip_adapter"):
        Settings(models={"faces": {"model": "tiny", "ip-adapter": "/m/ip.safetensors"}})


def test_capabilities_and_terms_come_from_the_files_without_loading(adapters, settings):
    facts = inspect_model(join_spec("tiny", str(adapters["plus"])), settings)
    caps = facts.capabilities
    assert facts.available and facts.family == "sd1" and facts.ip_adapter == "IP-Adapter Plus"
    assert caps.image_strength and caps.reference_strength and caps.max_references == 4
    assert caps.default_reference_strength == 0.6
    terms = facts.commercial_use
    assert terms.use == "allowed"  # the tiny model's Apache-2.0; the adapter's card says apache-2.0 too
    assert "the base model's licence (Apache License 2.0) governs the outputs" in terms.conditions
    assert "IP-Adapter Plus weights are under the Apache License 2.0" in terms.conditions
    plain = inspect_model("tiny", settings).capabilities
    assert plain.max_references == 0 and not plain.reference_strength  # the model alone is unchanged


def test_the_base_models_licence_governs(adapters, settings, tmp_path):
    import shutil

    from photogen.engines.tiny import TINY_MARKER

    folder = tmp_path / "sd15"
    shutil.copytree(settings.models_dir / "tiny", folder)
    (folder / TINY_MARKER).unlink()
    (folder / "README.md").write_text("---\nlicense: creativeml-openrail-m\n---\n")
    terms = inspect_model(join_spec(str(folder), str(adapters["plain"])), settings).commercial_use
    assert terms.use == "conditions" and terms.licence == "CreativeML Open RAIL-M"
    assert "use restrictions" in terms.conditions and "governs the outputs" in terms.conditions


def test_loads_with_load_ip_adapter_from_local_files(adapted, adapters):
    pipe = adapted.pipeline
    assert type(pipe.unet.encoder_hid_proj).__name__ == "MultiIPAdapterImageProjection"
    assert type(pipe.image_encoder).__name__ == "CLIPVisionModelWithProjection"
    assert pipe.feature_extractor.crop_size["height"] == 32  # made for the tiny encoder's 32x32 input
    described = adapted.info.extra["ip_adapter"]
    assert described["kind"] in ("IP-Adapter", "IP-Adapter Plus") and described["licence"] == "apache-2.0"
    assert adapted.info.id == f"tiny+ip-adapter={described['weights']}" and adapted.info.family == "sd1"
    assert adapted.capabilities.reference_strength and adapted.capabilities.max_references == 4


def test_the_same_seed_gives_the_same_pixels(adapted, photos):
    item = prepared(adapted, photos, reference_strength=0.8, num_images=2)
    first, second = run(adapted, item), run(adapted, item)
    assert [a.tobytes() for a in first] == [b.tobytes() for b in second]
    assert difference(first[0], first[1]) > 20


def test_references_and_their_strength_reach_the_model(adapted, photos):
    base = run(adapted, prepared(adapted, photos, reference_strength=0.8))[0]
    other = run(adapted, prepared(adapted, photos, references=("cat",), reference_strength=0.8))[0]
    weaker = run(adapted, prepared(adapted, photos, reference_strength=0.3))[0]
    off = run(adapted, prepared(adapted, photos, reference_strength=0.0))[0]
    assert difference(base, other) > 3 * BATCH_TOLERANCE
    assert difference(base, weaker) > 3 * BATCH_TOLERANCE
    assert difference(base, off) > 3 * BATCH_TOLERANCE
    assert difference(weaker, off) > 3 * BATCH_TOLERANCE


def test_sd_users_keep_their_models_pixels(adapted, tiny, photos):
    """Without references, or at strength 0, the adapted model gives the model's own pixels, bit for bit."""
    plain = run(tiny, prepared(tiny, photos, references=()))
    assert run(adapted, prepared(adapted, photos, references=()))[0].tobytes() == plain[0].tobytes()
    assert run(adapted, prepared(adapted, photos, reference_strength=0.0))[0].tobytes() == plain[0].tobytes()


def test_a_batch_gives_each_request_its_own_pixels(adapted, photos):
    a = prepared(adapted, photos, reference_strength=0.8, seed=5)
    b = prepared(adapted, photos, references=("cat",), reference_strength=0.8, prompt="a red coat", guidance=1.0,
                 seed=9, num_images=2)
    together = adapted.generate([a, b])
    assert [len(images) for images in together] == [1, 2]
    assert difference(together[0][0], run(adapted, a)[0]) <= BATCH_TOLERANCE
    assert max(difference(x, y) for x, y in zip(together[1], run(adapted, b))) <= BATCH_TOLERANCE


def test_one_request_gives_the_stock_pipelines_pixels(adapted, photos):
    from photogen.engines.schedulers import build_scheduler

    item = prepared(adapted, photos, references=("coffee", "cat"), reference_strength=0.7, num_images=2)
    ours = run(adapted, item)
    pipe = adapted.pipeline
    pipe.scheduler = build_scheduler("default", adapted.scheduler_config)
    pipe.set_ip_adapter_scale(0.7)
    stock = pipe(
        prompt=item.request.prompt, image=item.image, strength=item.request.denoising_strength,
        num_inference_steps=item.request.steps, guidance_scale=item.request.guidance, num_images_per_prompt=2,
        ip_adapter_image=[list(item.references)],
        generator=[torch.Generator().manual_seed(seed) for seed in item.request.seeds()],
    ).images
    assert [a.tobytes() for a in ours] == [b.tobytes() for b in stock]


def test_requests_fit_the_adapter(adapted):
    caps = adapted.capabilities
    request = GenerationRequest(prompt="a portrait", references=["a" * 64])
    assert fit_request(request, {"prompt", "references"}, caps, "faces").reference_strength == 0.6
    assert fit_request(request.model_copy(update={"reference_strength": 0.2}), {"reference_strength"}, caps,
                       "faces").reference_strength == 0.2
    with pytest.raises(UnsupportedControl, match="references"):
        fit_request(GenerationRequest(prompt="x", references=["a" * 64] * 5), {"references"}, caps, "faces")


def test_sdxl_takes_an_ip_adapter(settings, photos, tmp_path_factory):
    from tests.test_batching import tiny_sdxl_pipeline

    folder = tmp_path_factory.mktemp("sdxl")
    pipe = tiny_sdxl_pipeline()
    pipe.save_pretrained(folder / "tiny-sdxl")
    weights = build_tiny_ip_adapter(pipe.unet, folder / "IP-Adapter")
    model = load_generator(join_spec(str(folder / "tiny-sdxl"), str(weights)), settings)
    assert model.info.family == "sdxl" and model.capabilities.max_references == 4
    base = run(model, prepared(model, photos, reference_strength=0.8))[0]
    assert difference(base, run(model, prepared(model, photos, references=("cat",), reference_strength=0.8))[0]) > 6
    assert difference(base, run(model, prepared(model, photos, reference_strength=0.0))[0]) > 6
    with pytest.raises(UnsupportedModel, match="made for another model") as refused:  # SDXL's adapter on SD 1.x
        load_generator(join_spec("tiny", str(weights)), settings)
    assert "ip-adapter_sd15" in refused.value.hint


def test_adapters_that_cannot_work_are_refused_with_a_fix(adapters, settings, tmp_path, models):
    models.get("tiny-flux2-klein")
    with pytest.raises(UnsupportedModel, match="Stable Diffusion models, not with a flux2-klein"):
        load_generator(join_spec("tiny-flux2-klein", str(adapters["plain"])), settings)
    with pytest.raises(ModelNotFound, match="no IP-Adapter weights file"):
        load_generator(join_spec("tiny", str(tmp_path / "missing.safetensors")), settings)
    lonely = tmp_path / "lonely" / "ip-adapter_sd15.safetensors"
    lonely.parent.mkdir()
    lonely.write_bytes(adapters["plain"].read_bytes())
    with pytest.raises(ModelNotFound, match="no CLIP image encoder") as refused:
        IPAdapterFiles.find(lonely)
    assert "image_encoder" in refused.value.hint
    faceid = adapters["plain"].parent / "ip-adapter-faceid_sd15.safetensors"
    _write_header(faceid, {"image_proj.proj.0.weight": [64, 32], "image_proj.norm.weight": [32],
                           "ip_adapter.1.to_k_ip.weight": [64, 32]})
    with pytest.raises(UnsupportedModel, match="FaceID"):
        IPAdapterFiles.find(faceid)
    facts = inspect_model(join_spec("tiny", str(tmp_path / "missing.safetensors")), settings)
    assert not facts.available and facts.capabilities is None  # shown unavailable instead of failing


def test_the_catalogue_offers_an_adapted_model_without_its_paths(adapters, settings, tmp_path):
    server = settings.model_copy(update={"models": {"faces": join_spec("tiny", str(adapters["plus"]))},
                                         "default_model": join_spec("tiny", str(adapters["plain"]))})
    catalogue = ModelCatalogue(server)
    assert catalogue.ids() == ["faces", "tiny", "tiny+ip-adapter"]
    described = {m.id: m for m in catalogue.describe()}
    assert described["faces"].capabilities.reference_strength and described["faces"].family == "sd1"
    assert described["tiny+ip-adapter"].default and described["tiny"].capabilities.max_references == 0
    assert cache_key(join_spec("tiny", str(adapters["plus"]))) != cache_key("tiny")


def test_optimisations_leave_the_adapter_in_place(adapters, photos, settings, models):
    """Fused projections would replace the adapter's attention processors: they are skipped, with the reason. A
    compiled UNet is warmed with one reference photo's embeddings and padded to its bucket, lists included."""
    from photogen.engines.base import ModelInfo
    from photogen.engines.families import family_named
    from photogen.engines.optimize import EngineOptions, UNetRunner, _dummy_unet_inputs

    files = IPAdapterFiles.find(adapters["plain"])
    fused = family_named("sd1").load_folder(settings.models_dir / "tiny", ModelInfo("tiny", "sd1", "tiny"),
                                            device="cpu", dtype="float32", options=EngineOptions(fuse_qkv="on"),
                                            ip_adapter=files)
    applied = fused.info.extra["optimizations"]
    assert applied["fuse_qkv"].startswith("skipped: the IP-Adapter's attention processors")
    assert "IPAdapterAttnProcessor2_0" in applied["attention"]
    adapted = models.get(join_spec("tiny", str(adapters["plain"])))
    item = prepared(fused, photos, reference_strength=0.8)
    assert run(fused, item)[0].tobytes() == run(adapted, item)[0].tobytes()
    pipe = adapted.pipeline
    inputs = _dummy_unet_inputs(pipe, 3, 8, 8, "cpu")
    assert inputs["added_cond_kwargs"]["image_embeds"][0].shape[:2] == (3, 1)
    with torch.inference_mode():
        alone = pipe.unet(**inputs, return_dict=False)[0]
        padded = UNetRunner(pipe.unet, {"unet_batch_sizes": [4]})(**inputs)  # as a compiled UNet's bucket of 4
    assert padded.shape == alone.shape and torch.allclose(padded, alone, atol=1e-5)


def test_outputs_record_the_adapter(adapted, photos):
    item = prepared(adapted, photos, reference_strength=0.5)
    _item, plan = prepare_request(decoded(photos["source"]), item.request, adapted,
                                  [decoded(photos["coffee"])])
    record = output_record(item.request, plan, adapted, {})
    assert record["model"]["id"].startswith("tiny+ip-adapter=")
    assert record["model"]["ip_adapter"]["kind"] in ("IP-Adapter", "IP-Adapter Plus")
    assert record["request"]["reference_strength"] == 0.5
    assert "governs the outputs" in record["model"]["commercial_use"]["conditions"]


def _write_header(path, shapes: dict[str, list[int]]) -> None:
    """A safetensors file whose tensors are all zeros (float32), with the given names and shapes."""
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = 4 * int(torch.tensor(shape).prod())
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + bytes(offset))


def test_the_command_line_takes_an_adapter_and_records_it_absolute(adapters, photogen_home, tiny, astronaut_jpeg,
                                                                   coffee_png, tmp_path):
    import os
    import subprocess
    import sys

    from PIL import Image

    env = {**os.environ, "PHOTOGEN_HOME": str(photogen_home), "PHOTOGEN_DEVICE": "cpu", "PHOTOGEN_OFFLINE": "1"}
    folder = adapters["plain"].parent
    result = subprocess.run(
        [sys.executable, "-m", "photogen", "generate", str(astronaut_jpeg), "--prompt", "a portrait",
         "--model", f"tiny+ip-adapter={adapters['plain'].name}", "--reference", str(coffee_png),
         "--reference-strength", "0.7", "--steps", "2", "--image-strength", "0.3", "--width", "64", "--height", "64",
         "--seed", "3", "--out", str(tmp_path), "--json"],
        capture_output=True, text=True, env=env, cwd=folder, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    with Image.open(json.loads(result.stdout)["outputs"][0]["png"]) as image:
        record = json.loads(image.text["photogen"])
    assert record["request"]["model"] == f"tiny+ip-adapter={adapters['plain']}"  # absolute: replays from anywhere
    assert record["request"]["reference_strength"] == 0.7 and len(record["request"]["references"]) == 1
    assert record["model"]["ip_adapter"]["weights"] == "ip-adapter_tiny.safetensors"
