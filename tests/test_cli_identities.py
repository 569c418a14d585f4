"""`photogen identities`: sets made from photo files or upload ids, their report as tables or JSON, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from photogen.cli import app
from photogen.intake import calibration


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTOGEN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PHOTOGEN_OFFLINE", "1")
    monkeypatch.setenv("COLUMNS", "200")
    return lambda *args: CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def files(tmp_path):
    sample = calibration.sample_photos()
    pixels = {"eileen.jpg": sample["astronaut"], "eileen-mirrored.jpg": np.ascontiguousarray(sample["astronaut"][:, ::-1]),
              "grace.jpg": sample["grace_hopper"], "cup.jpg": sample["coffee"]}
    for name, rgb in pixels.items():
        (tmp_path / name).write_bytes(calibration.jpeg_bytes(rgb, 92))
    return {name: tmp_path / name for name in pixels}


def test_create_show_add_remove_and_delete(cli, files):
    made = cli("identities", "create", "Eileen", files["eileen.jpg"], files["grace.jpg"], "--json")
    assert made.exit_code == 0, made.stderr
    view = json.loads(made.stdout)
    assert [m["filename"] for m in view["members"]] == ["eileen.jpg", "grace.jpg"]
    assert view["coverage"]["references"] == {"total": 2, "usable": 2}

    shown = cli("identities", "show", view["id"])
    assert shown.exit_code == 0, shown.stderr
    assert "Eileen (person)" in shown.stdout and "straight-on 2, 3/4 left 0, 3/4 right 0" in shown.stdout
    # two people and no majority: no one is singled out, the set as a whole does not match
    assert "no two references look like the same person" in shown.stdout and "coverage block" in shown.stdout

    added = json.loads(cli("identities", "add", view["id"], files["eileen-mirrored.jpg"], "--json").stdout)
    flagged = [(f["name"], f["level"]) for f in added["coverage"]["flags"]]
    assert flagged == [("grace.jpg", "block")]  # now two of three are one person: Grace Hopper stands out
    grace = next(m for m in added["members"] if m["filename"] == "grace.jpg")
    shown = cli("identities", "show", view["id"])
    assert f"grace.jpg does not look like the set's person: similarity {grace['similarity']:.2f}" in shown.stdout

    removed = json.loads(cli("identities", "remove", view["id"], grace["upload_id"], "--json").stdout)
    assert [m["filename"] for m in removed["members"]] == ["eileen.jpg", "eileen-mirrored.jpg"]
    assert removed["coverage"]["flags"] == [] and removed["history"][-1]["action"] == "removed"

    listed = cli("identities", "list")
    assert view["id"] in listed.stdout and "Eileen" in listed.stdout
    assert cli("identities", "rename", view["id"], "Eileen Collins").stdout.strip().endswith("Eileen Collins")
    deleted = cli("identities", "delete", view["id"])
    assert deleted.exit_code == 0 and "the uploads stay" in deleted.stdout
    assert "no identity sets yet" in cli("identities", "list").stdout


def test_errors_are_one_line_with_a_fix(cli, files):
    refused = cli("identities", "create", "Cup", files["cup.jpg"])
    assert refused.exit_code == 2
    assert refused.stderr.startswith("error [no_usable_reference]: ") and "cup.jpg: no face found" in refused.stderr
    assert "  fix: " in refused.stderr and "Traceback" not in refused.stderr + refused.stdout
    missing = cli("identities", "show", "nope")
    assert missing.exit_code == 2 and missing.stderr.startswith("error [not_found]: no identity set nope")
    unknown = cli("identities", "create", "X", "0" * 32)
    assert unknown.exit_code == 2 and unknown.stderr.startswith("error [not_found]: no upload")
    # the refused set left no upload behind
    from photogen.config import Settings
    from photogen.container import build_container

    container = build_container(Settings(), worker=False)
    try:
        assert container.uploads.list("local") == []
    finally:
        container.db.dispose()
