"""`photogen generate` with an instruction-edit model, in a real subprocess: references, the model's own
defaults, and a control the model lacks refused with a fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from PIL import Image


@pytest.fixture(scope="module")
def run(photogen_home, klein):
    env = {**os.environ, "PHOTOGEN_HOME": str(photogen_home), "PHOTOGEN_DEVICE": "cpu", "PHOTOGEN_OFFLINE": "1"}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "photogen", *args], capture_output=True, text=True, env=env,
                              timeout=600)

    return run


def test_an_edit_with_a_reference_from_the_command_line(run, astronaut_jpeg, coffee_png, tmp_path):
    result = run("generate", str(astronaut_jpeg), "--prompt", "make the coat red", "--model", "tiny-flux2-klein",
                 "--reference", str(coffee_png), "--steps", "2", "--seed", "5", "--out", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)["outputs"][0]
    with Image.open(output["png"]) as image:
        record = json.loads(image.text["photogen"])
        parameters = image.text["parameters"]
    assert record["request"]["references"] and len(record["request"]["references"][0]) == 64
    assert record["request"]["image_strength"] is None and record["request"]["guidance"] == 4.0  # the model's own
    assert record["model"]["family"] == "flux2-klein" and record["model"]["commercial_use"]["use"] == "allowed"
    assert "Denoising strength" not in parameters and "Steps: 2" in parameters
    assert (record["size"][0] % 16, record["size"][1] % 16) == (0, 0)


def test_a_control_the_model_lacks_is_refused_with_a_fix(run, astronaut_jpeg, tmp_path):
    result = run("generate", str(astronaut_jpeg), "--prompt", "make the coat red", "--model", "tiny-flux2-klein",
                 "--image-strength", "0.5", "--steps", "2", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "error [unsupported_control]: image_strength: model 'tiny-flux2-klein'" in result.stderr
    assert "fix:" in result.stderr and list(tmp_path.iterdir()) == []


def test_a_sweep_runs_on_an_edit_model_without_an_image_strength(run, astronaut_jpeg, tmp_path):
    result = run("sweep", str(astronaut_jpeg), "--prompt", "make the coat red", "--model", "tiny-flux2-klein",
                 "--field", "seed", "--values", "1,2", "--steps", "2", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    pngs = sorted(tmp_path.glob("*.png"))
    records = []
    for path in pngs:
        with Image.open(path) as image:
            if "photogen" in image.text:
                records.append(json.loads(image.text["photogen"]))
    outputs = [r for r in records if "sweep" in r]
    assert sorted(r["sweep"]["value"] for r in outputs) == [1, 2]
    assert all(r["request"]["image_strength"] is None for r in outputs)
    refused = run("sweep", str(astronaut_jpeg), "--prompt", "make the coat red", "--model", "tiny-flux2-klein",
                  "--values", "0.2,0.4", "--steps", "2", "--out", str(tmp_path / "no"))
    assert refused.returncode == 2 and "unsupported_control" in refused.stderr
