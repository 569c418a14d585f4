"""`photogen sweep`, `vary` and `upscale` as a person runs them (in process)."""

import json

import pytest
from PIL import Image
from typer.testing import CliRunner

from photogen.cli import app
from photogen.outputs import read_record


@pytest.fixture
def cli(photogen_home, monkeypatch, tiny):
    monkeypatch.setenv("PHOTOGEN_HOME", str(photogen_home))
    monkeypatch.setenv("PHOTOGEN_OFFLINE", "1")
    return lambda *args: CliRunner().invoke(app, [str(a) for a in args])


def test_sweep_writes_one_output_per_value_and_a_grid(cli, astronaut_jpeg, tmp_path):
    result = cli("sweep", astronaut_jpeg, "-p", "portrait", "--values", "0.25,0.5,0.75", "--steps", "4",
                 "--seed", "7", "--model", "tiny", "--out", tmp_path)
    assert result.exit_code == 0, result.stderr
    pngs = sorted(p for p in tmp_path.glob("*.png") if "grid" not in p.name)
    records = [read_record(p) for p in pngs]
    assert [r["sweep"]["value"] for r in records] == [0.25, 0.5, 0.75]
    assert {r["seed"] for r in records} == {7}
    assert [r["denoising_steps"] for r in records] == [3, 2, 1]
    sidecar = json.loads(pngs[0].with_suffix(".json").read_text())
    assert {"identity", "structure"} <= set(sidecar["scores"])
    grid = next(tmp_path.glob("*grid*.png"))
    with Image.open(grid) as image, Image.open(pngs[0]) as one:
        assert image.width == 3 * one.width and image.height > one.height
    assert "grid:" in result.stdout


def test_vary_changes_one_thing_and_keeps_the_seed(cli, astronaut_jpeg, tmp_path):
    made = cli("generate", astronaut_jpeg, "-p", "portrait", "--steps", "4", "--image-strength", "0.5", "--seed", "11",
               "--model", "tiny", "--out", tmp_path / "a", "--json")
    assert made.exit_code == 0, made.stderr
    first = json.loads(made.stdout)["outputs"][0]["png"]
    varied = cli("vary", first, "--set", "image_strength=0.75", "--out", tmp_path / "b")
    assert varied.exit_code == 0, varied.stderr
    new = next((tmp_path / "b").glob("*.png"))
    before, after = read_record(first), read_record(new)
    assert after["seed"] == before["seed"] == 11
    assert after["image_strength"] == 0.75 and before["image_strength"] == 0.5
    changed = {k for k in before["request"] if before["request"][k] != after["request"][k]}
    assert changed == {"image_strength"}
    refused = cli("vary", first, "--set", "seed")
    assert refused.exit_code == 2 and "FIELD=VALUE" in refused.stderr


def test_upscale_records_the_pass_and_warns_for_large_prints(cli, astronaut_jpeg, tmp_path):
    target = tmp_path / "big.png"
    result = cli("upscale", astronaut_jpeg, "--factor", "2", "--method", "lanczos", "--print", "12x12in@300", "--out", target)
    assert result.exit_code == 0, result.stderr
    with Image.open(target) as image:
        assert image.size == (1024, 1024)
    record = read_record(target)
    assert record["upscale"]["upscaler"] == "lanczos" and record["upscale"]["factor"] == 2
    assert record["print"]["required_px"] == [3600, 3600]
    assert "warning:" in result.stdout
    bad = cli("upscale", astronaut_jpeg, "--factor", "3")
    assert bad.exit_code == 2 and "factor 3" in bad.stderr


def test_generate_from_a_recipe_records_it(cli, astronaut_jpeg, tmp_path):
    result = cli("generate", astronaut_jpeg, "-p", "navy blazer", "--recipe", "headshot", "--steps", "4", "--seed", "2",
                 "--model", "tiny", "--out", tmp_path, "--json")
    assert result.exit_code == 0, result.stderr
    record = read_record(json.loads(result.stdout)["outputs"][0]["png"])
    assert record["request"]["recipe"] == "headshot@1"
    assert record["request"]["prompt"].startswith("professional headshot, navy blazer, neutral studio background")
    assert record["image_strength"] == 0.6 and record["request"]["crop_preset"] == "headshot"
    listed = cli("recipes", "list")
    assert "headshot@1" in listed.stdout and "[built-in]" in listed.stdout
