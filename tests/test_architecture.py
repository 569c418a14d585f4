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


def module_name(path: Path) -> str:
    """photogen/a/b.py -> photogen.a.b; a package's __init__.py is the package itself."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Every module of ours -> the modules of ours it imports explicitly, wherever the import statement is:
    module level, inside functions, under TYPE_CHECKING. `from photogen.a import b` means module photogen.a.b
    when that is a module, else photogen.a. The implicit import of a parent package is not an edge."""
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in paths else base for alias in node.names]
            else:
                continue
            graph[name].update(target for target in targets if target in paths and target != name)
    return graph


def cycles_in(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_cycle_finder_sees_hidden_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles_in(graph) == [["a", "b", "c"]]
    assert cycles_in({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_reads_every_kind_of_import():
    graph = import_graph()
    assert "photogen.api.deps" in graph["photogen.api.routes.jobs"]  # from photogen.api.deps import ...
    assert "photogen.api.routes.jobs" in graph["photogen.api.routes"]  # import photogen.api.routes.jobs as jobs
    assert "photogen.api.routes" in graph["photogen.api.app"]  # a function-local import
    assert "photogen.intake.crop" in graph["photogen.intake.report"]  # under TYPE_CHECKING
    assert "photogen" not in graph["photogen.api.deps"]  # parent packages are not imported explicitly


def test_no_import_cycles():
    graph = import_graph()
    cycles = cycles_in(graph)
    described = [
        " ; ".join(f"{module} -> {', '.join(sorted(graph[module] & set(cycle)))}" for module in cycle) for cycle in cycles
    ]
    assert not cycles, "import cycles (a piece is in the wrong place):\n" + "\n".join(described)


def test_route_modules_import_no_other_route_module_and_never_the_app():
    graph = import_graph()
    routes = {name for name in graph if name.startswith("photogen.api.routes.")}
    assert routes, "the route modules moved: update this test"
    for name in routes:
        assert not graph[name] & (routes | {"photogen.api.routes", "photogen.api.app"}), f"{name} imports {graph[name]}"


def test_cli_command_modules_import_only_the_common_module_of_the_cli():
    graph = import_graph()
    commands = {name for name in graph if name.startswith("photogen.cli.") and name != "photogen.cli.common"}
    assert commands, "the command modules moved: update this test"
    for name in commands:
        ours = {target for target in graph[name] if target == "photogen.cli" or target.startswith("photogen.cli.")}
        assert ours <= {"photogen.cli.common"}, f"{name} imports {ours}"


# api/ and cli/ talk to services, runner and the container (ARCHITECTURE.md, "Layers"): rows, sessions and the
# database engine stay below them. Nothing in either package needs an exception: api/deps.py, the one place the
# API touches wiring, needs only `photogen.container.Container` (the composition root, which alone builds the
# database and hands services their ports); the CLI's key commands get their service from
# `photogen.container.key_service` and the server's banner its database URL from `database_label`.
STORAGE_MODULES = ("photogen.store", "sqlalchemy", "alembic")
STORAGE_ATTRIBUTES = {"db", "session", "blobs"}  # container.db, db.session(), container.blobs: the same, by attribute


def storage_uses(source: str) -> set[str]:
    """What of the storage layer this source reaches directly: imported modules under STORAGE_MODULES
    (anywhere: module level, inside functions, under TYPE_CHECKING) and STORAGE_ATTRIBUTES read on anything."""
    def storage(name: str) -> bool:
        return any(name == module or name.startswith(module + ".") for module in STORAGE_MODULES)

    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if storage(alias.name))
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if storage(node.module):  # from photogen.store.tables import Job
                found.add(node.module)
            else:  # from photogen import store
                found.update(f"{node.module}.{a.name}" for a in node.names if storage(f"{node.module}.{a.name}"))
        elif isinstance(node, ast.Attribute) and node.attr in STORAGE_ATTRIBUTES:
            found.add(f".{node.attr}")
    return found


def test_the_storage_rule_sees_every_way_in():
    source = """
import sqlalchemy.orm
from photogen.store.tables import Job
from photogen import store
def route(container):
    from alembic import command
    with container.db.session() as session:
        return container.blobs.get(key)
"""
    assert storage_uses(source) == {"sqlalchemy.orm", "photogen.store.tables", "photogen.store", "alembic",
                                    ".db", ".session", ".blobs"}
    assert storage_uses("from photogen.services.assets import AssetService\nimport photogen.container") == set()
    assert storage_uses("from photogen.storefront import x") == set()  # a prefix of a name is not the module


def test_api_and_cli_reach_storage_only_through_services():
    packages = [PACKAGE / "api", PACKAGE / "cli"]
    paths = [path for package in packages for path in package.rglob("*.py")]
    assert any(path.name == "deps.py" for path in paths) and any(path.parent.name == "routes" for path in paths), \
        "the api or cli modules moved: update this test"
    offenders = {}
    for path in paths:
        uses = storage_uses(path.read_text())
        if uses:
            offenders[module_name(path)] = sorted(uses)
    assert not offenders, f"api/cli modules reaching the store directly (go through a service): {offenders}"


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
