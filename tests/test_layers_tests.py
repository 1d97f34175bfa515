"""The tests' own layering: test modules share code only through tests.harness and tests.fakes,
never by importing one another (or a conftest), so each reads and moves on its own."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (also inside functions), dotted; for
    ``from package import name`` both the package and ``package.name``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def is_test_module(name: str) -> bool:
    """``tests.test_x``, ``tests.faults.test_x`` or any conftest: modules pytest owns."""
    parts = name.split(".")
    return parts[0] == "tests" and (parts[-1].startswith("test_") or parts[-1] == "conftest")


def test_no_test_module_imports_another() -> None:
    modules = sorted(TESTS.rglob("*.py"))
    assert len([m for m in modules if m.name.startswith("test_")]) > 40  # the walk sees them
    offenders = {
        str(path.relative_to(TESTS.parent)): sorted(filter(is_test_module, imported_modules(path)))
        for path in modules
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_check_sees_each_form_of_import(tmp_path: Path) -> None:
    source = tmp_path / "test_sample.py"
    source.write_text(
        "import tests.test_cli\n"
        "from tests.faults import test_store_faults\n"
        "from tests.conftest import free_port\n"
        "def helper():\n"
        "    from tests.test_relay import Chat\n"
        "from tests.harness import run_cli\n"
    )
    found = sorted(filter(is_test_module, imported_modules(source)))
    assert found == [
        "tests.conftest",
        "tests.faults.test_store_faults",
        "tests.test_cli",
        "tests.test_relay",
    ]
