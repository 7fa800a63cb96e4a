"""The layout rules of docs/design.md#layers-and-dependencies, checked on the source: imports run
one way (no cycle between project modules, imports inside functions included), no app imports
another app's `api` package, a project module is imported inside a function only with a comment
saying why, no module or function grows past what one reader can hold, and every fixture module
is loaded."""
import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import conftest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("endpoints", "jobs", "llmengine_site")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the project module it loads
    line: int
    in_function: bool
    commented: bool  # a comment on the statement's lines or the line above


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _project_files() -> dict[str, Path]:
    files = {}
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                files[_module_name(path)] = path
    return files


FILES = _project_files()
SOURCES = {name: path.read_text() for name, path in FILES.items()}
TREES = {name: ast.parse(source, str(FILES[name])) for name, source in SOURCES.items()}


def _targets(node: ast.Import | ast.ImportFrom, module: str) -> list[str]:
    """The project modules a statement loads: `from a.b import c` loads `a.b.c` when that is a
    module, else `a.b`."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".") if FILES[module].name == "__init__.py" else module.split(".")[:-1]
            base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in FILES else base for alias in node.names]
    found = []
    for name in names:
        while name and name not in FILES:
            name = name.rpartition(".")[0]
        if name and name not in found:
            found.append(name)
    return found


def _has_comment(source_lines: list[str], node: ast.stmt) -> bool:
    lines = source_lines[max(0, node.lineno - 2):node.end_lineno]
    return any("#" in line for line in lines)


def _imports(module: str) -> list[Import]:
    lines = SOURCES[module].splitlines()
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in _targets(child, module):
                    found.append(Import(module, target, child.lineno, in_function, _has_comment(lines, child)))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(TREES[module], False)
    return found


IMPORTS = [edge for module in FILES for edge in _imports(module)]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, components, counter = {}, {}, set(), [], [], [0]
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
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
                    components.append(sorted(component))
    return components


def test_the_checker_finds_a_cycle_and_a_relative_import():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    node = ast.parse("from .status import x").body[0]
    assert _targets(node, "endpoints.builder") == ["endpoints.status"]


def test_no_import_cycle_between_project_modules():
    edges = {module: set() for module in FILES}
    for edge in IMPORTS:
        if edge.target != edge.module:
            edges[edge.module].add(edge.target)
    cycles = _cycles(edges)
    details = [" -> ".join(cycle) + ": " + "; ".join(
        f"{edge.module}:{edge.line} imports {edge.target}" for edge in IMPORTS
        if edge.module in cycle and edge.target in cycle and edge.target != edge.module) for cycle in cycles]
    assert not cycles, "import cycles:\n" + "\n".join(details)


def test_no_app_imports_another_apps_api_package():
    """What both APIs need lives at project level (llmengine_site/), not in one app's `api`."""
    crossing = [f"{edge.module}:{edge.line} imports {edge.target}" for edge in IMPORTS
                if edge.target.split(".")[0] in ("endpoints", "jobs") and edge.target.split(".")[1:2] == ["api"]
                and edge.target.split(".")[0] != edge.module.split(".")[0]]
    assert not crossing, "what both APIs need lives at project level:\n" + "\n".join(crossing)


CONVERGE_AND_STATUS = ("endpoints.builder", "endpoints.status", "jobs.converge", "jobs.status")
UPPER_LAYERS = ("services", "tasks", "api", "admin", "selectors", "reconciler", "management")


def test_converge_steps_and_status_recording_import_no_upper_layer():
    upward = [f"{edge.module}:{edge.line} imports {edge.target}" for edge in IMPORTS
              if edge.module in CONVERGE_AND_STATUS and edge.target.split(".")[0] in ("endpoints", "jobs")
              and set(edge.target.split(".")[1:]) & set(UPPER_LAYERS)]
    assert not upward, "services -> actors -> converge -> status runs one way:\n" + "\n".join(upward)


def test_names_and_labels_are_pure():
    loaded = [f"{edge.module}:{edge.line} imports {edge.target}" for edge in IMPORTS
              if edge.module in ("llmengine_site.names", "llmengine_site.labels")]
    assert not loaded
    for module in ("llmengine_site.names", "llmengine_site.labels"):
        imported = {alias.name.split(".")[0] for node in ast.walk(TREES[module]) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(TREES[module])
                     if isinstance(node, ast.ImportFrom) and node.module}
        assert imported <= {"hashlib", "re"}, f"{module} imports {sorted(imported)}"


def test_a_project_module_is_imported_inside_a_function_only_with_a_comment_saying_why():
    hidden = [f"{edge.module}:{edge.line} imports {edge.target}" for edge in IMPORTS
              if edge.in_function and not edge.commented]
    assert not hidden, "move these imports to the top of the module (or say why they cannot be):\n" + "\n".join(hidden)


# Project code: the apps, the operator scripts and the benchmark (not tests/, not migrations).
SIZED = [*FILES.values(), *sorted((ROOT / "scripts").glob("*.py")), *sorted((ROOT / "bench").glob("*.py")),
         ROOT / "manage.py"]


@pytest.mark.parametrize("path", SIZED, ids=lambda path: str(path.relative_to(ROOT)))
def test_modules_and_functions_stay_short(path):
    source = path.read_text()
    lines = len(source.splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path} has {lines} lines: split it by concern"
    long = [f"{node.name} (line {node.lineno}): {node.end_lineno - node.lineno + 1} lines"
            for node in ast.walk(ast.parse(source)) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{path}: functions over {MAX_FUNCTION_LINES} lines: " + ", ".join(long)


def test_every_fixture_module_is_listed_in_pytest_plugins():
    on_disk = {f"tests.fakes.{path.stem}" for path in (ROOT / "tests" / "fakes").glob("*_fixtures.py")}
    on_disk |= {f"tests.{path.stem}" for path in (ROOT / "tests").glob("fixtures_*.py")}
    assert on_disk <= set(conftest.pytest_plugins), f"add to tests/conftest.py: {sorted(on_disk - set(conftest.pytest_plugins))}"
    assert all(isinstance(name, str) for name in conftest.pytest_plugins)
