"""`photogen analyze` and `photogen crop` through Typer, as photogen.cli registers them."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from photogen.cli.intake import analyze, crop
from photogen.intake import calibration as degrade


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    application = typer.Typer()
    application.command()(analyze)
    application.command()(crop)
    return application


@pytest.fixture()
def astronaut_file(tmp_path, astronaut):
    path = tmp_path / "astronaut.jpg"
    path.write_bytes(degrade.jpeg_bytes(astronaut, 92))
    return path


def test_analyze_prints_a_table_of_checks(app, astronaut_file):
    result = CliRunner().invoke(app, ["analyze", str(astronaut_file)])
    assert result.exit_code == 0, result.output
    for word in ("sharpness", "face_turn", "threshold", "overall: ok"):
        assert word in result.output


def test_analyze_json_is_the_report(app, astronaut_file):
    result = CliRunner().invoke(app, ["analyze", str(astronaut_file), "--use", "headshot", "--json"])
    report = json.loads(result.output)
    assert report["use"] == "headshot" and report["crop"]["anchor"] == "face"
    assert {check["name"] for check in report["checks"]} >= {"crop_fill", "face_count", "compression"}
    assert result.exit_code == (1 if report["level"] == "block" else 0)


def test_analyze_exits_1_when_a_check_blocks(app, tmp_path, photos):
    path = tmp_path / "coffee.png"
    path.write_bytes(degrade.png_bytes(photos["coffee"]))
    result = CliRunner().invoke(app, ["analyze", str(path), "--use", "headshot"])
    assert result.exit_code == 1 and "no face found" in result.output and "overall: block" in result.output


def test_analyze_refuses_an_unknown_use_in_one_line(app, astronaut_file):
    result = CliRunner().invoke(app, ["analyze", str(astronaut_file), "--use", "passport"])
    assert result.exit_code == 2 and result.output.startswith("error [unknown_use]: ")
    first, fix = result.output.splitlines()[:2]
    assert " — " not in first and fix.startswith("  fix: ")


def test_analyze_reports_a_missing_file(app, tmp_path):
    result = CliRunner().invoke(app, ["analyze", str(tmp_path / "nope.jpg")])
    assert result.exit_code == 2 and result.output.startswith("error [source_not_found]: ")
    folder = CliRunner().invoke(app, ["analyze", str(tmp_path)])
    assert folder.exit_code == 2 and "is a folder" in folder.output


def test_crop_writes_the_preset_without_metadata(app, tmp_path, astronaut):
    import cv2

    big = tmp_path / "big.jpg"
    big.write_bytes(
        degrade.jpeg_bytes(cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_CUBIC), 92)
    )
    out = tmp_path / "headshot.png"
    result = CliRunner().invoke(app, ["crop", str(big), "--preset", "linkedin", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with Image.open(out) as written:
        assert written.format == "PNG" and not written.getexif()
        size = written.size
    assert "placed on the face" in result.output and f"wrote {out}" in result.output
    assert size[0] / size[1] == pytest.approx(0.8, abs=0.01)


def test_crop_keeps_the_crop_size_when_the_photo_is_too_small(app, astronaut_file, tmp_path):
    out = tmp_path / "square.webp"
    result = CliRunner().invoke(
        app, ["crop", str(astronaut_file), "--preset", "instagram-square", "--out", str(out)]
    )
    assert result.exit_code == 0 and "cannot fill 1080x1080" in result.output
    with Image.open(out) as written:
        assert written.size == (512, 512)


def test_crop_without_out_only_shows_the_plan(app, astronaut_file):
    result = CliRunner().invoke(app, ["crop", str(astronaut_file), "--preset", "custom:16:9"])
    assert result.exit_code == 0 and "box (" in result.output and "--out" in result.output


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        (["--preset", "passport"], "unknown_preset"),
        (["--preset", "headshot", "--out", "x.gif"], "unsupported_output"),
    ],
)
def test_crop_errors_are_one_line_and_a_fix(app, astronaut_file, tmp_path, arguments, code):
    args = [a if a != "x.gif" else str(tmp_path / "x.gif") for a in arguments]
    result = CliRunner().invoke(app, ["crop", str(astronaut_file), *args])
    assert result.exit_code == 2 and result.output.startswith(f"error [{code}]: ")
    lines = result.output.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("  fix: ")  # the same two lines as every other command


def test_importing_the_commands_loads_no_heavy_modules():
    code = "import sys, photogen.cli.intake; print(sorted(m for m in ('cv2', 'pywt', 'numpy') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_flat_grey_upload_is_handled(app, tmp_path):
    path = tmp_path / "grey.png"
    path.write_bytes(degrade.png_bytes(np.full((600, 600, 3), 128, np.uint8)))
    result = CliRunner().invoke(app, ["analyze", str(path), "--json"])
    report = json.loads(result.output)
    assert report["faces"] == [] and result.exit_code == (1 if report["level"] == "block" else 0)
    levels = {check["name"]: check["level"] for check in report["checks"]}
    assert levels["sharpness"] == "block" and levels["contrast"] == "block"


def test_analyze_shows_the_fault_checks_with_their_findings(app, tmp_path, astronaut, detector):
    face = detector.detect(astronaut)[0]
    path = tmp_path / "holiday.png"
    path.write_bytes(degrade.png_bytes(degrade.sunglasses(degrade.enlarge(astronaut, 150, 512), face)))
    result = CliRunner().invoke(app, ["analyze", str(path), "--json"])
    report = json.loads(result.output)
    checks = {check["name"]: check for check in report["checks"]}
    assert checks["effective_resolution"]["level"] == "warn" and checks["face_occlusion"]["level"] == "warn"
    table = CliRunner().invoke(app, ["analyze", str(path)]).output
    for words in (
        "effective_resolution",
        "face_occlusion",
        "the eyes look covered",
        "enlarged",
        "overall: warn",
    ):
        assert words in table, words
