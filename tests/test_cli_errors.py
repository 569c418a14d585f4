"""CLI errors in one shape (`error [code]: message`, then `  fix: hint`), bad settings, and output paths."""

import os
import subprocess
import sys

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


@pytest.mark.parametrize("command", [["purge", "--dry-run"], ["keys", "list"], ["serve"], ["recipes", "list"]])
def test_a_bad_setting_is_one_error_line_and_a_fix_without_a_traceback(tmp_path, command):
    env = {**os.environ, "PHOTOGEN_HOME": str(tmp_path), "PHOTOGEN_RETENTION_OUTPUTS_DAYS": "0",
           "PHOTOGEN_MAX_BATCH_IMAGES": "many"}
    result = subprocess.run([sys.executable, "-m", "photogen", *command], capture_output=True, text=True, env=env,
                            timeout=120, check=False)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert "error [invalid_setting]: PHOTOGEN_RETENTION_OUTPUTS_DAYS=0: must be at least 1" in lines
    assert any(line.startswith("error [invalid_setting]: PHOTOGEN_MAX_BATCH_IMAGES=many: ") for line in lines)
    fixes = [line for line in lines if line.startswith("  fix: set PHOTOGEN_")]
    assert len(fixes) == 2 and "Traceback" not in result.stderr and "pydantic" not in result.stderr


def test_a_missing_prompt_says_it_is_required(cli, astronaut_jpeg):
    result = cli("generate", astronaut_jpeg, "-p", "", "--model", "tiny")
    assert result.exit_code == 2
    assert result.stderr.startswith("error [invalid_request]: prompt: a prompt is required")
    assert result.stderr.splitlines()[1].startswith("  fix: ")


def test_generate_makes_a_missing_output_folder(cli, astronaut_jpeg, tmp_path):
    out = tmp_path / "new" / "deeper"
    result = cli("generate", astronaut_jpeg, "-p", "x", "--steps", "2", "--image-strength", "0.4", "--seed", "1",
                 "--model", "tiny", "--out", out)
    assert result.exit_code == 0, result.stderr
    assert len(list(out.glob("*.png"))) == 1


@pytest.mark.parametrize("command", ["generate", "sweep", "upscale"])
def test_an_output_path_that_cannot_be_made_is_refused_before_any_work(cli, astronaut_jpeg, tmp_path, command):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = blocker / "sub" / ("x.png" if command == "upscale" else "")
    args = {"generate": ["-p", "x", "--model", "no_such_folder/model.safetensors"],
            "sweep": ["-p", "x", "--model", "no_such_folder/model.safetensors"],
            "upscale": ["--method", "lanczos"]}[command]
    result = cli(command, astronaut_jpeg, *args, "--out", out)
    # The model would fail to load (model_not_found) if the work had started: the path is checked first.
    assert result.exit_code == 2, result.stdout
    assert result.stderr.startswith("error [output_not_writable]: cannot create the output folder")
    assert result.stderr.splitlines()[1].startswith("  fix: ")


def test_vary_checks_its_output_folder_first(cli, astronaut_jpeg, tmp_path):
    made = cli("generate", astronaut_jpeg, "-p", "x", "--steps", "2", "--image-strength", "0.4", "--seed", "1",
               "--model", "tiny", "--out", tmp_path / "first")
    assert made.exit_code == 0, made.stderr
    (first,) = (tmp_path / "first").glob("*.png")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = cli("vary", first, "--set", "seed=7", "--out", blocker / "sub")
    assert result.exit_code == 2 and result.stderr.startswith("error [output_not_writable]:")


def test_upscale_makes_the_folder_and_keeps_the_work_when_the_write_fails(cli, astronaut_jpeg, tmp_path,
                                                                          photogen_home, monkeypatch):
    made = tmp_path / "missing" / "dir" / "x.png"
    result = cli("upscale", astronaut_jpeg, "--method", "lanczos", "--out", made)
    assert result.exit_code == 0, result.stderr
    assert made.is_file()

    # The target folder vanishes while the work runs: the result lands in the outputs folder, and we say so.
    doomed = tmp_path / "doomed" / "y.png"

    from photogen.runner import upscale as runner_upscale

    original = runner_upscale.upscale

    def upscale_then_lose_the_folder(*args, **kwargs):
        done = original(*args, **kwargs)
        doomed.parent.rmdir()
        return done

    monkeypatch.setattr(runner_upscale, "upscale", upscale_then_lose_the_folder)
    kept = cli("upscale", astronaut_jpeg, "--method", "lanczos", "--out", doomed)
    assert kept.exit_code == 0, kept.stderr
    saved = photogen_home / "outputs" / "y.png"
    assert "saved to" in kept.stderr and str(saved) in kept.stderr.replace("\n", "")
    with Image.open(saved) as image:
        assert image.size == (1024, 1024)
    assert read_record(saved)["upscale"]["upscaler"] == "lanczos"
