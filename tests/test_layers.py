"""The import graph of core/ and bots/: no circles, and no arrow from core up to the front-ends.

Every import counts, wherever it stands (module level, inside a function, under
``TYPE_CHECKING``): an import hidden in a function is still a dependency, only a later one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "bots")

# Edges allowed to close a circle until the code that holds them is reshaped. Each entry names
# the issue that removes it; an entry whose edge no longer exists fails the test below, so the
# list only shrinks.
ALLOWED: frozenset[tuple[str, str]] = frozenset()


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the two packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def named(name: str, path: Path) -> Iterator[str]:
    """Every dotted name module ``name`` imports, anywhere in its file (relative ones resolved;
    ``from a import b`` gives ``a.b``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield from (f"{base}.{alias.name}" for alias in node.names)


def imported(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """The modules of ``known`` that module ``name`` imports: for ``from core import notices``
    the module core.notices, for ``from core.model import Binding`` the module core.model."""
    for target in named(name, path):
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            yield target


def graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    found = modules()
    known = set(found)
    return {name: set(imported(name, path, known)) for name, path in found.items()}


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def test_no_import_circle() -> None:
    edges = graph()
    kept = {
        name: {t for t in targets if (name, t) not in ALLOWED} for name, targets in edges.items()
    }
    found = circles(kept)
    assert not found, (
        "import circles (each line one group of modules that import each other):\n"
        + ("\n".join(" <-> ".join(group) for group in found))
    )


def test_allowed_edges_still_exist() -> None:
    edges = graph()
    stale = sorted((a, b) for a, b in ALLOWED if b not in edges.get(a, set()))
    assert not stale, f"remove these from ALLOWED, they no longer exist: {stale}"


def test_core_never_imports_the_front_ends_or_their_libraries() -> None:
    upward = sorted(
        (name, target)
        for name, path in modules().items()
        if name.split(".")[0] == "core"
        for target in named(name, path)
        if target.split(".")[0] in ("bots", "discord", "telegram")
    )
    assert not upward, f"core imports a front-end or a platform library: {upward}"


def test_the_graph_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    """The parser itself: an import inside a function and a relative one are edges too."""
    pkg = tmp_path / "core"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from core import b\n")
    (pkg / "b.py").write_text("from .a import f\n")
    known = {"core", "core.a", "core.b"}
    assert set(imported("core.a", pkg / "a.py", known)) == {"core.b"}
    assert set(imported("core.b", pkg / "b.py", known)) == {"core.a"}
    assert circles({"core.a": {"core.b"}, "core.b": {"core.a"}}) == [["core.a", "core.b"]]
