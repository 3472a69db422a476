"""Dependencies point inward: each package imports only the packages below it.

    admin_api → loyalty → gateway → channel_control → anticounterfeit → kernel

(``loadtests`` may import everything; nothing imports it.) Read from the source, so a new
import that breaks the layering fails here, not in review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["kernel", "anticounterfeit", "channel_control", "gateway", "loyalty", "admin_api"]


def _imported_packages(package: str) -> dict[str, set[str]]:
    """{our package imported: {file importing it, ...}} for every module of ``package``."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in (*LAYERS, "loadtests") and top != package:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("package", LAYERS)
def test_package_imports_only_lower_layers(package: str) -> None:
    allowed = set(LAYERS[: LAYERS.index(package)])
    wrong = {
        target: sorted(files)
        for target, files in _imported_packages(package).items()
        if target not in allowed
    }
    assert wrong == {}, f"{package} must not import {sorted(wrong)}: {wrong}"
