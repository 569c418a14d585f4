"""The runner's upscale pass makes what `photogen upscale` writes: the same pixels and the same record."""

import hashlib

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from photogen.cli import app
from photogen.outputs import read_record
from photogen.runner.upscale import run_upscale
from photogen.services.review import parse_print


def test_the_runners_upscale_gives_the_clis_pixels_and_record(photogen_home, monkeypatch, astronaut_jpeg, tmp_path):
    monkeypatch.setenv("PHOTOGEN_HOME", str(photogen_home))
    monkeypatch.setenv("PHOTOGEN_OFFLINE", "1")
    target = tmp_path / "x2.png"
    done = CliRunner().invoke(app, ["upscale", str(astronaut_jpeg), "--factor", "2", "--method", "lanczos",
                                    "--print", "12x12in@300", "--out", str(target)])
    assert done.exit_code == 0, done.output
    with Image.open(astronaut_jpeg) as opened:
        picture = opened.convert("RGB")
    source = {"name": astronaut_jpeg.name, "sha256": hashlib.sha256(astronaut_jpeg.read_bytes()).hexdigest()}
    result = run_upscale(picture, factor=2, method="lanczos", model=None, interrupt=None,
                         print_spec=parse_print("12x12in@300"), lineage={"source": source})
    [output] = result.pieces
    assert output.kind == "upscale" and output.image.size == (2 * picture.width, 2 * picture.height)
    assert output.record == read_record(target)
    with Image.open(target) as written:
        assert np.array_equal(np.asarray(written.convert("RGB")), np.asarray(output.image))
