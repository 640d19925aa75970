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
