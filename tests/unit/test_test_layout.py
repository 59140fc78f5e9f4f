"""The tests' own layout: helpers live in tests/support and are imported from there;
conftest.py holds fixtures only; no module imports a test module. So moving or deleting a
test cannot break an unrelated one, and no test runs twice because another module
imported it."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPOSITORY = TESTS.parent
#: The trees whose Python may import test helpers: the tests and the benchmarks.
SCANNED = (TESTS, REPOSITORY / "bench")


def python_files() -> Iterator[Path]:
    for tree in SCANNED:
        yield from sorted(p for p in tree.rglob("*.py") if "node_modules" not in p.parts)


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in the file, nested ones included; a relative
    import's module keeps its leading dots."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, "." * node.level + (node.module or "")


def imports_where(wrong: Callable[[list[str]], bool]) -> list[str]:
    """``file:line: module`` for each import whose dotted name parts make ``wrong`` true."""
    found: list[str] = []
    for path in python_files():
        for line, module in imported_modules(path):
            if wrong(module.lstrip(".").split(".")):
                found.append(f"{path.relative_to(REPOSITORY)}:{line}: {module}")
    return found


def test_no_module_imports_from_conftest() -> None:
    assert imports_where(lambda parts: "conftest" in parts) == []


def test_no_module_imports_from_a_test_module() -> None:
    assert imports_where(lambda parts: any(p.startswith("test_") for p in parts)) == []


def test_helper_modules_live_in_tests_support() -> None:
    """Any module of the tests that is neither a test module nor a conftest is a helper."""
    misplaced = [
        str(path.relative_to(REPOSITORY))
        for path in python_files()
        if path.is_relative_to(TESTS)
        and not path.name.startswith("test_")
        and path.name not in ("conftest.py", "__init__.py")
        and not path.is_relative_to(TESTS / "support")
    ]
    assert misplaced == []
