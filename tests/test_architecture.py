"""The package's shape, read from its source with `ast`: no import cycle (function-level
imports included), no module imports a layer above its own, no module over 400 lines, no
class over 250."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "crawler"
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 250


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, tuple[Path, ast.Module]]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        found[module_name(path)] = (path, ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return found


def imports_of(name: str, path: Path, tree: ast.Module, known: set[str]) -> set[str]:
    """The package's modules this one imports anywhere in its body (functions included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:  # `from . import x` names a module when x is one
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in known else target)
    return {m for m in out if m in known and m != name}


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, tree, known) for name, (path, tree) in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def module_lines() -> dict[str, int]:
    return {name: len(path.read_text(encoding="utf-8").splitlines()) for name, (path, _) in modules().items()}


def class_lines() -> dict[str, int]:
    out = {}
    for name, (_, tree) in modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                out[f"{name}.{node.name}"] = node.end_lineno - node.lineno + 1
    return out


# The layers, bottom to top: a module imports modules of its own group (its subpackage, or
# itself for a module at the top of the package) or of a group in a lower layer, never one
# above or beside it (the master and the worker know nothing of each other). The README's
# Layout section is this table in words.
LAYERS = (
    ("crawler", "crawler.errors", "crawler.portable"),  # the version, the exceptions, the platform
    ("crawler.rules",),                   # pure: URLs, names, image types, wire records, politeness
    ("crawler.config",),                  # the settings and their defaults
    ("crawler.page",),                    # pure: a fetched page's or sitemap's bytes -> links, images
    ("crawler.net", "crawler.store"),     # HTTP out; disk
    ("crawler.link",),                    # the master <-> worker connection
    ("crawler.master", "crawler.worker", "crawler.report"),
    ("crawler.cli",),                     # the commands
    ("crawler.__main__",),
)
def group_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def layer_of() -> dict[str, int]:
    return {group: n for n, groups in enumerate(LAYERS) for group in groups}


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Each import of a group in the same or a higher layer, as 'a -> b'."""
    layer = layer_of()
    out = []
    for a in sorted(graph):
        for b in sorted(graph[a]):
            ga, gb = group_of(a), group_of(b)
            if ga != gb and layer[gb] >= layer[ga]:
                out.append(f"{a} -> {b}")
    return out


def test_the_graph_sees_function_level_imports_and_cycles():
    src = "def f():\n    from . import b\n"
    tree = ast.parse(src)
    assert imports_of("crawler.a", PACKAGE / "a.py", tree, {"crawler.a", "crawler.b"}) == {"crawler.b"}
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 30 and graph["crawler.cli.commands"], "the graph found the package's modules and imports"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_layer_check_sees_imports_upward_and_beside():
    assert layer_violations({"crawler.rules.urls": {"crawler.net.fetch"}}) \
        == ["crawler.rules.urls -> crawler.net.fetch"]
    assert layer_violations({"crawler.worker.session": {"crawler.master.ledger"}}) \
        == ["crawler.worker.session -> crawler.master.ledger"]
    assert layer_violations({"crawler.cli.commands": {"crawler.cli.launch", "crawler.worker", "crawler.errors"},
                             "crawler.net.fetch": {"crawler.page.charset"}}) == []


def test_every_module_has_a_layer():
    layer = layer_of()
    assert not [m for m in import_graph() if group_of(m) not in layer], "add its group to LAYERS"


def test_no_module_imports_a_layer_above_its_own():
    graph = import_graph()
    assert len(graph) > 30, "the graph found the package's modules"
    assert layer_violations(graph) == []


def test_no_module_over_400_lines():
    long = {m: n for m, n in module_lines().items() if n > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_class_over_250_lines():
    long = {c: n for c, n in class_lines().items() if n > MAX_CLASS_LINES}
    assert not long, f"classes over {MAX_CLASS_LINES} lines: {long}"
