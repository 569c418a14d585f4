"""The loader: every way of naming a model reaches the same generator code."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from photogen.domain.errors import ModelNotFound, UnsupportedModel
from photogen.domain.params import GenerationRequest
from photogen.engines.base import PreparedRequest
from photogen.engines.loader import cache_key, load_generator, locate
from photogen.engines.single_file import export_single_file
from photogen.intake.crop import plan_crop


def run(generator, photo, seed=21):
    request = GenerationRequest(prompt="a portrait", seed=seed, steps=4, image_strength=0.5, model="x")
    plan = plan_crop(photo.size, (4, 5), generator.info.native_pixels)
    return np.asarray(generator.generate([PreparedRequest(request, plan.apply(photo))])[0][0])


@pytest.fixture(scope="module")
def photo(astronaut_array):
    return Image.fromarray(astronaut_array)


def test_tiny_is_labelled_random_and_loaded_like_a_folder(tiny, settings):
    assert tiny.info.random_weights and "random weights" in tiny.info.label
    assert tiny.info.family == "sd1" and tiny.info.source == "tiny" and tiny.info.revision == "tiny-v1"
    assert tiny.info.native_pixels == 128 * 128  # UNet sample size 64 x VAE factor 2
    assert (settings.models_dir / "tiny" / "model_index.json").is_file()


def test_a_single_file_saved_from_tiny_loads_offline_and_makes_the_folder_image(tiny, settings, photo, tmp_path):
    checkpoint = export_single_file(tiny._pipe, tmp_path / "tiny.safetensors")
    from_file = load_generator(str(checkpoint), settings)
    assert from_file.info.source == "single_file" and from_file.info.family == "sd1"
    assert from_file.info.revision.startswith("sha256:")
    assert np.array_equal(run(from_file, photo), run(tiny, photo))


def test_a_copied_folder_loads_as_a_folder_model(tiny, settings, photo, tmp_path):
    folder = tmp_path / "my-model"
    shutil.copytree(settings.models_dir / "tiny", folder)
    (folder / "photogen_model.json").unlink()
    (folder / "README.md").write_text("---\nlicense: creativeml-openrail-m\n---\n# my model\n")
    generator = load_generator(str(folder), settings)
    assert generator.info.source == "folder" and generator.info.id == "my-model"
    assert generator.info.licence == "creativeml-openrail-m" and not generator.info.random_weights
    assert np.array_equal(run(generator, photo), run(tiny, photo))


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda p: p / "missing.safetensors", ModelNotFound, "no model"),
        (lambda p: (p / "old.ckpt").write_bytes(b"pickle") and p / "old.ckpt", UnsupportedModel, "pickled"),
        (lambda p: (p / "empty").mkdir() or p / "empty", ModelNotFound, "no model_index.json"),
        (lambda p: (p / "bad.safetensors").write_bytes(b"\x00" * 20) and p / "bad.safetensors", UnsupportedModel, "safetensors"),
    ],
)
def test_unusable_models_are_refused_clearly(settings, tmp_path, make, error, words):
    with pytest.raises(error) as caught:
        load_generator(str(make(tmp_path)), settings)
    assert words in str(caught.value)
    assert caught.value.hint


def test_hub_ids_in_offline_mode_do_not_download(settings):
    with pytest.raises(ModelNotFound) as caught:
        locate("someone/not-cached-model", settings)
    assert "local cache" in caught.value.message


def test_cache_keys_treat_paths_as_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.safetensors").write_bytes(b"")
    assert cache_key("m.safetensors") == cache_key(str(tmp_path / "m.safetensors"))
    assert cache_key("owner/model") == "owner/model" and cache_key("tiny") == "tiny"


def test_engine_settings_reach_the_loaded_model(settings, photo, tiny):
    tuned = settings.model_copy(update={"channels_last": "on", "fuse_qkv": "on", "compile": "off"})
    generator = load_generator("tiny", tuned)
    applied = generator.info.extra["optimizations"]
    assert (applied["channels_last"], applied["fuse_qkv"], applied["compile"]) == ("on", "on", "off")
    assert tiny.info.extra["optimizations"]["channels_last"] == "off"  # auto is off on the CPU
    assert np.abs(run(generator, photo).astype(int) - run(tiny, photo).astype(int)).max() <= 2


IMPORTS_THEN_LOAD = """
import json, sys
from photogen.config import Settings
from photogen.engines.families import import_libraries
from photogen.engines.loader import load_generator
before = set(sys.modules)
import_libraries()
imported = set(sys.modules) - before
load_generator("tiny", Settings(home=sys.argv[1]))
print(json.dumps({"imported": len(imported), "by_load": sorted(set(sys.modules) - before - imported)}))
"""


def test_after_import_libraries_a_load_imports_next_to_nothing(tiny, settings):
    """A worker imports the model libraries before it takes jobs: the first load, which runs while the worker
    holds its jobs' leases, must not be where torch, diffusers' pipelines or transformers' encoders load."""
    env = {**os.environ, "PHOTOGEN_OFFLINE": "1", "PHOTOGEN_DEVICE": "cpu"}
    result = subprocess.run([sys.executable, "-c", IMPORTS_THEN_LOAD, str(settings.home)], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    by_load = counts["by_load"]
    assert counts["imported"] > 1000 and len(by_load) * 20 < counts["imported"], by_load
    assert not [name for name in by_load if name.split(".")[0] in ("torch", "transformers")], by_load
