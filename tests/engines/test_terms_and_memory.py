"""Commercial terms in plain words beside every model and in every output's record; memory settings for
smaller GPUs (8-bit weights through torchao, model CPU offload) applied, or skipped with the reason."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from photogen.domain.licences import commercial_terms
from photogen.domain.params import GenerationRequest
from photogen.engines.loader import inspect_model, load_generator
from photogen.engines.tiny import TINY_MARKER
from photogen.runner.generate import prepare_request
from photogen.runner.records import output_record
from tests.engines.conftest import decoded

FLUX_DEV_CARD = "---\nlicense: other\nlicense_name: flux-1-dev-non-commercial-license\n---\n# FLUX.1 Kontext\n"


@pytest.mark.parametrize(("licence", "use", "words"), [
    ("apache-2.0", "allowed", "Commercial use allowed"),
    ("Apache-2.0 (built by photogen from configs; random weights)", "allowed", "client work"),
    ("creativeml-openrail-m", "conditions", "use restrictions"),
    ("openrail++", "conditions", "use restrictions"),
    ("flux-1-dev-non-commercial-license", "non_commercial", "Black Forest Labs"),
    ("flux-non-commercial-license", "non_commercial", "Non-commercial only"),
    ("something-else", "unknown", "read it before any commercial use"),
    (None, "unknown", "states no licence"),
])
def test_licences_are_summed_up_in_plain_words(licence, use, words):
    terms = commercial_terms(licence)
    assert terms.use == use and words in terms.summary + terms.conditions
    assert terms.licence


def test_a_non_commercial_model_says_so_in_the_catalogue_and_in_each_output(kontext, photos, settings, tmp_path):
    folder = tmp_path / "kontext-dev"
    shutil.copytree(settings.models_dir / "tiny-flux-kontext", folder)
    (folder / TINY_MARKER).unlink()
    (folder / "README.md").write_text(FLUX_DEV_CARD)
    facts = inspect_model(str(folder), settings)
    assert facts.licence == "flux-1-dev-non-commercial-license" and facts.commercial_use.use == "non_commercial"
    model = load_generator(str(folder), settings)
    request = GenerationRequest(prompt="make it red", seed=1, steps=1, image_strength=None, guidance=2.5,
                                model=str(folder))
    item, plan = prepare_request(decoded(photos["source"]), request, model)
    record = output_record(request, plan, model, {"sha256": "x"})
    assert record["model"]["licence"] == "flux-1-dev-non-commercial-license"
    assert record["model"]["commercial_use"]["use"] == "non_commercial"
    assert "Black Forest Labs" in record["model"]["commercial_use"]["summary"]
    assert "weights" not in record["model"]  # full precision: nothing to say


def test_int8_weights_load_run_and_are_recorded(settings, tiny, photos):
    pytest.importorskip("torchao")
    eight_bit = load_generator("tiny", settings.model_copy(update={"quantize": "int8"}))
    memory = eight_bit.info.extra["optimizations"]["memory"]
    assert memory == {"quantize": "int8 weight-only: unet, text_encoder", "cpu_offload": "off"}
    request = GenerationRequest(prompt="a portrait", seed=3, steps=4, image_strength=0.5, model="tiny")
    item, plan = prepare_request(decoded(photos["source"]), request, tiny)
    full, quantized = tiny.generate([item])[0][0], eight_bit.generate([item])[0][0]
    assert full.size == quantized.size
    # 8-bit weights move the pixels a little, not the picture
    assert np.abs(np.asarray(full, np.float32) - np.asarray(quantized, np.float32)).mean() < 8
    assert output_record(request, plan, eight_bit, {})["model"]["weights"] == "int8 weight-only: unet, text_encoder"


def test_int8_weights_reach_a_transformer_family(settings, klein, photos):
    pytest.importorskip("torchao")
    eight_bit = load_generator("tiny-flux2-klein", settings.model_copy(update={"quantize": "int8"}))
    assert eight_bit.info.extra["optimizations"]["memory"]["quantize"] == "int8 weight-only: transformer, text_encoder"
    request = GenerationRequest(prompt="make it red", seed=3, steps=2, image_strength=None, model="tiny-flux2-klein")
    item, _plan = prepare_request(decoded(photos["source"]), request, klein)
    assert eight_bit.generate([item])[0][0].size == item.size


def test_what_the_card_cannot_do_is_skipped_with_the_reason(settings):
    options = settings.model_copy(update={"quantize": "fp8", "cpu_offload": True})
    model = load_generator("tiny", options)  # on the CPU
    memory = model.info.extra["optimizations"]["memory"]
    assert memory["quantize"].startswith("skipped: fp8 weights need a CUDA GPU")
    assert memory["cpu_offload"] == "skipped: CPU offload needs a CUDA device"
