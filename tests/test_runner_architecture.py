"""Rules for job execution: one runner, used by the queue and the CLI; the queue only queues."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "photogen"
AREAS = ("runner", "queue", "services")


def module_name(path: Path) -> str:
    return ".".join(("photogen", *path.relative_to(PACKAGE).with_suffix("").parts))


def imported(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import in the file, function-local ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def area_files() -> list[Path]:
    return [path for area in AREAS for path in sorted((PACKAGE / area).glob("*.py"))]


def test_no_runner_queue_or_service_module_imports_another_modules_private_names():
    for path in area_files():
        for module, names in imported(path):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            assert not (module.startswith("photogen") and private), f"{module_name(path)} imports {private} from {module}"


def test_the_runner_the_queue_and_the_cli_executor_have_no_import_cycle():
    paths = [*sorted((PACKAGE / "runner").glob("*.py")), *sorted((PACKAGE / "queue").glob("*.py")),
             PACKAGE / "services" / "generation.py", PACKAGE / "services" / "replay.py"]
    modules = {module_name(path): path for path in paths}
    graph = {name: {m for m, _ in imported(path) if m in modules and m != name} for name, path in modules.items()}
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in graph[name]:
            assert state.get(target) != "open", "import cycle: " + " -> ".join([*trail, name, target])
            if target not in state:
                visit(target, [*trail, name])
        state[name] = "done"

    for name in modules:
        if name not in state:
            visit(name, [])


def test_the_runner_knows_nothing_of_queues_web_or_cli():
    for path in sorted((PACKAGE / "runner").glob("*.py")):
        for module, _names in imported(path):
            assert not module.startswith(("photogen.queue", "photogen.api", "photogen.cli")), \
                f"{module_name(path)} imports {module}"


def test_the_queue_runs_jobs_only_through_the_runner():
    """No execution in the queue: it neither calls a model nor writes blobs or assets itself."""
    source = (PACKAGE / "queue" / "embedded.py").read_text()
    for word in (".generate(", "blobs.put", "Asset(", "encode_png", "decode_image"):
        assert word not in source, word
    assert not (PACKAGE / "queue" / "review_runs.py").exists()


def test_the_cli_executor_carries_no_copy_of_the_runner():
    """GenerationService runs through photogen.runner: no grouping, scoring, records or verdicts of its own."""
    for name in ("generation.py", "replay.py"):
        source = (PACKAGE / "services" / name).read_text()
        for word in ("batch_key", "sweep_requests", "score_images", "grid_image", "def output_record",
                     "CLOSE_LEVELS", '"identical" if'):
            assert word not in source, f"{name} has its own {word}"
        assert "photogen.runner" in source
