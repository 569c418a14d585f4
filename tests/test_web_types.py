"""The browser UI's JavaScript is type-checked from its JSDoc types (`// @ts-check` in every module) by
TypeScript's `tsc --noEmit`, with no build step. TypeScript comes from npm into ./node_modules (the README's
test command runs `npm install`); without node on the machine the check is skipped, saying so."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "src" / "photogen" / "web" / "static"


def test_every_module_of_the_ui_asks_for_type_checks():
    modules = sorted(STATIC.glob("*.js"))
    assert modules and [m.name for m in modules if not m.read_text().startswith("// @ts-check")] == []


def test_the_ui_type_checks_with_tsc():
    if shutil.which("node") is None or shutil.which("npx") is None:
        pytest.skip("node is not installed here: the UI's types are checked where node and npm are (npm install)")
    tsc = ROOT / "node_modules" / ".bin" / "tsc"
    assert tsc.exists(), "TypeScript is missing: run `npm install` in the repository (the README's test command does)"
    done = subprocess.run(["npx", "--no-install", "tsc", "-p", str(ROOT / "tsconfig.json")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
