"""`photogen avatars`: an identity set run through two scenarios with the tiny FLUX.2 [klein], in this process,
the grid written to the folder; and a scenario the model cannot run refused with a fix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from photogen.cli import app
from photogen.intake import calibration


@pytest.fixture
def cli(tmp_path, monkeypatch, settings, models):
    models.get("tiny-flux2-klein")  # built once in the shared models folder
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(settings.models_dir)
    monkeypatch.setenv("PHOTOGEN_HOME", str(home))
    monkeypatch.setenv("PHOTOGEN_OFFLINE", "1")
    monkeypatch.setenv("PHOTOGEN_DEVICE", "cpu")
    monkeypatch.setenv("PHOTOGEN_MODELS", json.dumps({"klein": "tiny-flux2-klein"}))
    monkeypatch.setenv("COLUMNS", "200")
    return lambda *args: CliRunner().invoke(app, [str(a) for a in args])


def test_avatars_from_the_command_line(cli, tmp_path):
    sample = calibration.sample_photos()
    files = []
    for name, rgb in (("eileen.jpg", sample["astronaut"]),
                      ("eileen-mirrored.jpg", np.ascontiguousarray(sample["astronaut"][:, ::-1]))):
        (tmp_path / name).write_bytes(calibration.jpeg_bytes(rgb, 92))
        files.append(tmp_path / name)
    made = cli("identities", "create", "Eileen", *files, "--json")
    assert made.exit_code == 0, made.stderr
    identity = json.loads(made.stdout)["id"]

    result = cli("avatars", "create", identity, "-s", "avatar-corporate-headshot", "-s", "avatar-outdoor-casual",
                 "-n", "2", "--model", "klein", "--seed", "3", "--steps", "2", "--size", "64",
                 "--out", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.stderr
    avatar_set = json.loads(result.stdout)
    assert avatar_set["state"] == "succeeded" and [r["scenario"] for r in avatar_set["runs"]] == [
        "avatar-corporate-headshot", "avatar-outdoor-casual"]
    assert [o["seed"] for o in avatar_set["runs"][0]["outputs"]] == [3, 4]
    assert len(avatar_set["marked"]) == 4  # a random-weight model draws no face
    with Image.open(avatar_set["grid_png"]) as grid:
        assert grid.width == 2 * 64 and json.loads(grid.text["photogen"])["avatar_set"] == avatar_set["id"]
    shown = cli("avatars", "show", avatar_set["id"])
    assert shown.exit_code == 0 and "avatar-outdoor-casual: succeeded" in shown.stdout and "below" in shown.stdout
    assert avatar_set["id"] in cli("avatars", "list").stdout

    refused = cli("avatars", "create", identity, "-s", "angle-slight-left", "--model", "tiny")
    assert refused.exit_code != 0 and "angle" in refused.stderr and "fix:" in refused.stderr


def test_generate_with_a_head_turn_and_a_reference_records_both(cli, tmp_path):
    sample = calibration.sample_photos()
    source, reference = tmp_path / "eileen.jpg", tmp_path / "grace.jpg"
    source.write_bytes(calibration.jpeg_bytes(sample["astronaut"], 92))
    reference.write_bytes(calibration.jpeg_bytes(sample["grace_hopper"], 92))
    result = cli("generate", source, "--prompt", "a portrait", "--model", "tiny-flux2-klein", "--angle", "15",
                 "--reference", reference, "--steps", "2", "--seed", "5", "--width", "64", "--height", "64",
                 "--out", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.stderr
    output = json.loads(result.stdout)["outputs"][0]
    assert output["scores"]["angle"]["requested"] == 15 and "measured_yaw" in output["scores"]["angle"]
    assert output["scores"]["identity_set"]["references"] == 2  # the faces of the source and the reference
    sidecar = json.loads(Path(output["sidecar"]).read_text())
    assert sidecar["request"]["angle"] == 15
    assert [r["role"] for r in sidecar["references"]] == ["source", "reference"]
    assert sidecar["references"][1]["sha256"] == sidecar["request"]["references"][0]
    refused = cli("generate", source, "--prompt", "a portrait", "--model", "tiny", "--angle", "15")
    assert refused.exit_code != 0 and "angle:" in refused.stderr and "fix:" in refused.stderr


def test_a_recipe_runs_its_instruction_variant_on_an_edit_model(cli, tmp_path):
    source = tmp_path / "old.jpg"
    source.write_bytes(calibration.jpeg_bytes(calibration.sample_photos()["astronaut"], 92))
    result = cli("generate", source, "--prompt", "the torn corner", "--recipe", "restoration", "--model",
                 "tiny-flux2-klein", "--steps", "1", "--seed", "2", "--width", "64", "--height", "64",
                 "--out", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.stderr
    sidecar = json.loads(Path(json.loads(result.stdout)["outputs"][0]["sidecar"]).read_text())
    assert sidecar["request"]["prompt"].startswith("Restore this vintage photograph: repair the cracks")
    assert "(the torn corner)" in sidecar["request"]["prompt"] and sidecar["request"]["image_strength"] is None
    assert sidecar["request"]["recipe"].startswith("restoration@")
