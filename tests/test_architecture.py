"""Rules of the code base, checked on the source itself."""

import ast
import re
import subprocess
import sys
from pathlib import Path

from photogen.config import Settings

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "photogen"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_domain_imports_nothing_of_ours_outside_domain():
    for path in (PACKAGE / "domain").glob("*.py"):
        ours = {name for name in imports_of(path) if name.startswith("photogen")}
        assert all(name.startswith("photogen.domain") for name in ours), f"{path.name} imports {ours}"


def is_route(node: ast.AsyncFunctionDef) -> bool:
    return any(
        isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr in ("get", "post", "put", "delete", "patch")
        for d in node.decorator_list
    )


def test_async_routes_await_something():
    paths = [*(PACKAGE / "api").glob("*.py"), *(PACKAGE / "api" / "routes").glob("*.py")]
    assert any(path.parent.name == "routes" for path in paths), "the route modules moved: update this test"
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.AsyncFunctionDef) and is_route(node) and not any(
                isinstance(n, (ast.Await, ast.AsyncFor, ast.AsyncWith)) for n in ast.walk(node)
            ):
                raise AssertionError(f"{path.name}:{node.name} is async but never awaits: it blocks the event loop")


def test_no_bare_except():
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            assert not (isinstance(node, ast.ExceptHandler) and node.type is None), f"bare except in {path}"


def test_the_cli_imports_no_heavy_library_for_help():
    code = "import sys, photogen.cli; print(sorted(m for m in ('torch', 'diffusers', 'fastapi', 'sqlalchemy') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_every_setting_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for name in Settings.model_fields:
        assert f"PHOTOGEN_{name.upper()}" in readme, f"PHOTOGEN_{name.upper()} is not in the README"
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no description"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(.*python3 -m venv .venv && .*?)\n```", readme)
    assert len(commands) == 2, "the quick start has exactly two set-up commands"
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci == commands[1]
    assert commands[0].endswith("photogen serve")
