"""The folder listing tells the architecture: subpackages by concern, with no import circle between them.

Every import counts, also one inside a function (a lazy import is still a dependency). A top-level module
(cli, events, errors, ...) is a node of its own."""

import ast
from pathlib import Path

import lstm_vision

PACKAGE = Path(lstm_vision.__file__).parent


def node_of(module: str) -> str | None:
    """lstm_vision.training.engine -> "training"; lstm_vision.events -> "events"; other packages -> None."""
    parts = module.split(".")
    return parts[1] if parts[0] == "lstm_vision" and len(parts) > 1 else None


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module == "lstm_vision":  # from lstm_vision import events
                found.update(f"lstm_vision.{alias.name}" for alias in node.names)
    return found


def dependency_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(("lstm_vision", *path.relative_to(PACKAGE).with_suffix("").parts))
        source = node_of(module) if path.name != "__init__.py" or path.parent != PACKAGE else None
        if source is None:
            continue
        targets = {node_of(name) for name in imports_of(path)} - {None, source, "__version__"}
        graph.setdefault(source, set()).update(t for t in targets if t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt) :] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state:
                found = visit(nxt, [*path, nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_no_import_circle_between_the_subpackages():
    cycle = find_cycle(dependency_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_circle_finder_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_exceptions_come_from_errors_not_from_a_sibling_package():
    """No package imports a sibling for an exception: SettingsError, DataError and CheckpointError live in errors.py."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module != "lstm_vision.errors":
                names = {alias.name for alias in node.names}
                if names & {"SettingsError", "DataError", "CheckpointError"}:
                    offenders.append(f"{path.relative_to(PACKAGE)}: from {node.module}")
    assert offenders == []


ROOT = PACKAGE.parent
APP = ROOT / "app"


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def module_graph(folder: Path) -> dict[str, set[str]]:
    """The modules of one folder (a package or a subpackage), each to the modules of the same folder it imports."""
    names = {module_name(p) for p in folder.glob("*.py") if p.name != "__init__.py"}
    graph = {}
    for path in folder.glob("*.py"):
        if path.name != "__init__.py":
            graph[module_name(path)] = {n for n in imports_of(path) if n in names}
    return graph


def test_no_import_circle_between_the_modules_of_any_folder():
    # a circle held apart by imports inside functions (settings/validate <-> reference_keys once) counts too
    folders = [p.parent for p in (*PACKAGE.rglob("__init__.py"), *APP.rglob("__init__.py"))]
    circles = {str(f.relative_to(ROOT)): c for f in folders if (c := find_cycle(module_graph(f)))}
    assert circles == {}


def app_node(module: str) -> str | None:
    """app.widgets.form -> "widgets"; app.tui -> "tui"; other packages -> None."""
    parts = module.split(".")
    return parts[1] if parts[0] == "app" and len(parts) > 1 else None


def test_no_import_circle_between_the_apps_folders_and_widgets_never_reach_into_screens():
    graph: dict[str, set[str]] = {}
    widgets_reach = []
    for path in APP.rglob("*.py"):
        source = app_node(module_name(path))
        if source is None:
            continue
        targets = {app_node(name) for name in imports_of(path)} - {None, source}
        graph.setdefault(source, set()).update(t for t in targets if t)
        if source == "widgets":
            widgets_reach += [f"{path.name}: {n}" for n in imports_of(path) if n.startswith("app.screens")]
    assert find_cycle(graph) is None, "import circle in app/: " + " -> ".join(find_cycle(graph) or [])
    assert widgets_reach == []  # a widget posts a message; the screen that holds it decides


def test_an_exit_code_is_named_in_runs_result_only():
    """130 (stopped) is EXIT_STOPPED / EXIT_CODES["stopped"]: no literal elsewhere in the code."""
    literal = []
    for path in (*PACKAGE.rglob("*.py"), *APP.rglob("*.py")):
        if path == PACKAGE / "runs" / "result.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value == 130 and type(node.value) is int:
                literal.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert literal == []


def test_the_tree_cites_only_its_own_documents():
    """Code, docs and the files the program writes cite docs in this repository; the design notes outside it
    are no reference for a reader of the code."""
    outside = "DESIGN" + ".md"
    cited = [
        str(path.relative_to(ROOT))
        for folder in ("lstm_vision", "app", "tests", "benchmarks", "docs")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in (".py", ".md", ".toml", ".tcss") and outside in path.read_text(encoding="utf-8", errors="replace")
    ]
    cited += [
        name for name in ("README.md", "CONTRIBUTING.md", "settings.toml", "Makefile") if outside in (ROOT / name).read_text()
    ]
    assert cited == []
