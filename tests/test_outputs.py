import json

import pytest
from PIL import Image

from photogen.domain.errors import MetadataMissing
from photogen.domain.params import GenerationRequest
from photogen.outputs import output_stem, parameters_text, parse_parameters, read_record
from photogen.services.generation import GenerationService, Source


@pytest.fixture(scope="module")
def result(settings, models, astronaut_jpeg, tmp_path_factory):
    request = GenerationRequest(
        prompt="studio headshot, soft light, 85mm: sharp",
        negative_prompt="blurry, extra fingers",
        image_strength=0.6,
        seed=1234,
        steps=5,
        guidance=6.5,
        num_images=2,
        aspect_ratio="4:5",
        scheduler="euler_a",
    )
    source = Source.from_path(astronaut_jpeg, settings)
    return GenerationService(settings, models).generate(source, request, tmp_path_factory.mktemp("out"))


def test_every_output_has_png_and_sidecar_with_normalised_names(result):
    assert len(result.outputs) == 2
    for index, output in enumerate(result.outputs):
        seed = 1234 + index
        assert output.png.name.endswith(f"_{result.job_id[:8]}_{index:02d}_s{seed}.png")
        assert output.sidecar.name == output.png.with_suffix(".json").name
        assert output.png.is_file() and output.sidecar.is_file()
    assert not list(result.outputs[0].png.parent.glob(".*partial"))


def test_embedded_record_round_trips(result):
    output = result.outputs[1]
    record = read_record(output.png)
    assert record == output.record
    assert GenerationRequest.parse(record["request"]) == result.request
    assert record["seed"] == 1235 and record["index"] == 1
    assert record["image_strength"] == 0.6
    assert record["denoising_strength"] == pytest.approx(0.4)
    assert record["denoising_steps"] == 2
    assert record["scheduler"] == "euler_a" and record["sampler"] == "Euler a"
    assert record["model"]["random_weights"] is True and record["model"]["id"] == "tiny"


def test_parameters_text_reads_back_like_other_sd_tools_write_it(result):
    with Image.open(result.outputs[0].png) as image:
        text = image.text["parameters"]
    assert text == parameters_text(result.outputs[0].record)
    parsed = parse_parameters(text)
    assert parsed["prompt"] == "studio headshot, soft light, 85mm: sharp"
    assert parsed["negative_prompt"] == "blurry, extra fingers"
    assert parsed["Steps"] == "5"
    assert parsed["Sampler"] == "Euler a"
    assert parsed["CFG scale"] == "6.5"
    assert parsed["Seed"] == "1234"
    assert parsed["Size"] == "{}x{}".format(*result.outputs[0].record["size"])
    assert parsed["Model"] == "tiny"
    assert float(parsed["Denoising strength"]) == pytest.approx(0.4)


def test_sidecar_repeats_the_record_and_adds_run_facts(result, astronaut_jpeg):
    output = result.outputs[0]
    sidecar = json.loads(output.sidecar.read_text())
    for key, value in output.record.items():
        assert sidecar[key] == value
    assert sidecar["job_id"] == result.job_id
    assert sidecar["source_path"] == str(astronaut_jpeg.resolve())
    assert set(sidecar["timings"]) == {"model_load_s", "generate_s"}
    assert sidecar["software"]["photogen"]
    import hashlib

    assert sidecar["file"]["sha256"] == hashlib.sha256(output.png.read_bytes()).hexdigest()


def test_source_hash_is_of_the_original_bytes(result, astronaut_jpeg):
    import hashlib

    assert result.outputs[0].record["source"]["sha256"] == hashlib.sha256(astronaut_jpeg.read_bytes()).hexdigest()


def test_a_png_without_a_record_is_refused(tmp_path):
    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    with pytest.raises(MetadataMissing) as caught:
        read_record(plain)
    assert "no photogen record" in caught.value.message


def test_parameters_text_quotes_values_with_commas():
    parsed = parse_parameters('a cat\nSteps: 20, Model: "my, model", Seed: 3')
    assert parsed == {"prompt": "a cat", "negative_prompt": "", "Steps": "20", "Model": "my, model", "Seed": "3"}


def test_output_stem_sorts_by_time():
    from datetime import datetime

    assert output_stem(datetime(2026, 1, 2, 3, 4, 5), "abcdef1234", 3, 99) == "20260102-030405_abcdef12_03_s99"
