"""The `photogen` command as a person runs it, in a real subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin


@pytest.fixture(scope="module")
def run(photogen_home, settings, tiny):
    env = {**os.environ, "PHOTOGEN_HOME": str(photogen_home), "PHOTOGEN_DEVICE": "cpu", "PHOTOGEN_OFFLINE": "1"}

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "photogen", *args], capture_output=True, text=True, env=env, timeout=300
        )

    return run


GENERATE = ["--prompt", "a linkedin headshot", "--seed", "1234", "--aspect", "4:5", "-n", "2", "--steps", "4",
            "--image-strength", "0.5", "--model", "tiny"]


@pytest.fixture(scope="module")
def two_runs(run, astronaut_jpeg, tmp_path_factory):
    outs = [tmp_path_factory.mktemp("run") for _ in range(2)]
    results = [run("generate", str(astronaut_jpeg), *GENERATE, "--out", str(out), "--json") for out in outs]
    for result in results:
        assert result.returncode == 0, result.stderr
    return [json.loads(result.stdout) for result in results]


def test_generate_writes_n_pngs_and_sidecars(two_runs):
    outputs = two_runs[0]["outputs"]
    assert [o["seed"] for o in outputs] == [1234, 1235]
    for output in outputs:
        with Image.open(output["png"]) as image:
            assert image.format == "PNG"
            assert {"photogen", "parameters"} <= set(image.text)
        assert json.loads(Path(output["sidecar"]).read_text())["seed"] == output["seed"]


def test_the_same_command_twice_gives_byte_identical_pngs(two_runs):
    first, second = ([Path(o["png"]).read_bytes() for o in run["outputs"]] for run in two_runs)
    assert first == second
    assert two_runs[0]["job_id"] != two_runs[1]["job_id"]


def test_replay_reports_identical(run, two_runs):
    result = run("replay", two_runs[0]["outputs"][1]["png"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("identical:")


def test_replay_reports_a_changed_image(run, two_runs, tmp_path, astronaut_jpeg):
    original = two_runs[0]["outputs"][0]["png"]
    tampered = tmp_path / "tampered.png"
    with Image.open(original) as image:
        info = PngImagePlugin.PngInfo()
        for key, value in image.text.items():
            info.add_text(key, value)
        pixels = image.convert("RGB")
        pixels.putpixel((0, 0), tuple(255 - v for v in pixels.getpixel((0, 0))))
        pixels.save(tampered, pnginfo=info)
    result = run("replay", str(tampered), "--source", str(astronaut_jpeg))
    assert result.returncode == 1
    assert result.stdout.startswith("different:") and "largest pixel difference" in result.stdout


def test_replay_refuses_the_wrong_source(run, two_runs, coffee_png):
    result = run("replay", two_runs[0]["outputs"][0]["png"], "--source", str(coffee_png))
    assert result.returncode == 2
    assert "error [source_not_found]" in result.stderr and "sha256 differs" in result.stderr


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["generate", "missing.jpg", "-p", "x"], "source_not_found", "no file at"),
        (["generate", "{readme}", "-p", "x"], "image_unreadable", "not an image"),
        (["generate", "{photo}", "-p", "x", "--image-strength", "1.4"], "invalid_request", "image_strength"),
        (["generate", "{photo}", "-p", "x", "--model", "no_such_folder/model.safetensors"], "model_not_found", "no model"),
        (["generate", "{photo}", "-p", "x", "--model", "{readme}"], "unsupported_model", "not a .safetensors"),
        (["replay", "{photo}"], "metadata_missing", "no photogen record"),
    ],
)
def test_errors_print_one_clear_line_and_exit_non_zero(photogen_home, astronaut_jpeg, args, code, words, monkeypatch):
    from typer.testing import CliRunner

    from photogen.cli import app

    monkeypatch.setenv("PHOTOGEN_HOME", str(photogen_home))
    monkeypatch.setenv("PHOTOGEN_OFFLINE", "1")
    readme = os.path.join(os.path.dirname(__file__), "..", "README.md")
    filled = [a.format(readme=readme, photo=str(astronaut_jpeg)) for a in args]
    result = CliRunner().invoke(app, filled)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error [{code}]:")
    assert words in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_generate_with_a_preset_and_a_crop_box(photogen_home, astronaut_jpeg, tmp_path, monkeypatch, tiny):
    from typer.testing import CliRunner

    from photogen.cli import app

    monkeypatch.setenv("PHOTOGEN_HOME", str(photogen_home))
    base = ["generate", str(astronaut_jpeg), "-p", "x", "--steps", "4", "--image-strength", "0.5", "--seed", "3",
            "--model", "tiny", "--json", "--out", str(tmp_path)]
    by_preset = CliRunner().invoke(app, [*base, "--preset", "headshot"])
    assert by_preset.exit_code == 0, by_preset.stderr
    left, top, right, bottom = json.loads(by_preset.stdout)["crop"]["box"]
    assert (right - left) / (bottom - top) == pytest.approx(0.8, abs=0.01)
    assert left <= 178 and right >= 268  # YuNet's face box on this photo spans x 178..268
    by_box = CliRunner().invoke(app, [*base, "--crop-box", "100,50,356,306"])
    assert by_box.exit_code == 0, by_box.stderr
    assert json.loads(by_box.stdout)["crop"]["box"] == [100, 50, 356, 306]
    bad = CliRunner().invoke(app, [*base, "--crop-box", "1,2,x,4"])
    assert bad.exit_code == 2 and bad.stderr.startswith("error [invalid_request]: crop_box")
