"""The house rules, read from the source: the package graph, public faces, and unit sizes.

The allowed graph is data (``ALLOWED``): a new import that breaks it fails here, not in
review. See docs/architecture.md for why the graph is this shape.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAINS = ("kernel", "anticounterfeit", "gateway", "channel_control", "loyalty", "admin_api")
EVERYTHING = frozenset(DOMAINS)

# package -> the packages it may import. admin_api is the composition root; loadtests
# drives the whole system.
ALLOWED: dict[str, frozenset[str]] = {
    "kernel": frozenset(),
    "anticounterfeit": frozenset({"kernel"}),
    "gateway": frozenset({"anticounterfeit", "kernel"}),
    "channel_control": frozenset({"gateway", "anticounterfeit", "kernel"}),
    "loyalty": frozenset({"gateway", "kernel"}),
    "admin_api": EVERYTHING - {"admin_api"},
    "loadtests": EVERYTHING,
}
# Module names no other package may import: a package's tables and its HTTP routes are its
# own; others go through its services, queries, ports and plugin.
PRIVATE_MODULE = re.compile(r"(^|\.)(models|routes|\w+_routes)$")

# Violations that predate these rules and are being removed (issue 11, in progress). The list
# may only shrink: a new violation fails, and so does an entry that no longer occurs.
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
SIZE_REASON = re.compile(r"#\s*size:\s*\S")  # "# size: <why this unit stays this long>"


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _imported_packages(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in _modules(package):
        for name in _imports(path):
            top = name.split(".")[0]
            if top in (*DOMAINS, "loadtests") and top != package:
                found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("package", [*DOMAINS, "loadtests"])
def test_package_imports_only_what_the_graph_allows(package: str) -> None:
    wrong = {
        f"graph {package} -> {target}: {file}"
        for target, files in _imported_packages(package).items()
        if target not in ALLOWED[package]
        for file in files
    }
    _assert_none(wrong)


def test_the_allowed_graph_has_no_cycle() -> None:
    seen: set[str] = set()

    def visit(package: str, path: tuple[str, ...]) -> None:
        assert package not in path, f"cycle: {' -> '.join((*path, package))}"
        if package in seen:
            return
        for target in ALLOWED.get(package, frozenset()):
            visit(target, (*path, package))
        seen.add(package)

    for package in ALLOWED:
        visit(package, ())


@pytest.mark.parametrize("package", [*DOMAINS, "loadtests"])
def test_no_package_imports_another_packages_models_or_routes(package: str) -> None:
    wrong = {
        f"private {path.relative_to(ROOT)}: {name}"
        for path in _modules(package)
        for name in _imports(path)
        if name.split(".")[0] in DOMAINS
        and name.split(".")[0] != package
        and PRIVATE_MODULE.search(name)
    }
    _assert_none(wrong)


def _assert_none(found: set[str]) -> None:
    assert sorted(found) == [], "violations of the house rules (docs/architecture.md)"


def _has_reason(lines: list[str], start: int, end: int) -> bool:
    return any(SIZE_REASON.search(line) for line in lines[start:end])


@pytest.mark.parametrize("package", [*DOMAINS, "loadtests"])
def test_modules_and_functions_stay_small_or_say_why(package: str) -> None:
    too_long: set[str] = set()
    for path in _modules(package):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        rel = path.relative_to(ROOT)
        if len(lines) > MAX_MODULE_LINES and not _has_reason(lines, 0, 15):
            too_long.add(f"size {rel}: {len(lines)} lines")
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            if length > MAX_FUNCTION_LINES and not _has_reason(lines, first - 2, node.lineno + 1):
                too_long.add(f"size {rel} {node.name}(): {length} lines")
    _assert_none(too_long)
