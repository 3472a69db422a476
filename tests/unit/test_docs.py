"""The documentation names only files and modules that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
PATH = re.compile(
    r"(?<![\w/.-])((?:[a-z_]+/)+[\w.-]+\.(?:py|md|j2|lua|json|txt|toml|cfg|ini|sh))\b"
)
PACKAGES = ("kernel", "gateway", "anticounterfeit", "channel_control", "loyalty", "admin_api")
GENERATED = {"loadtests/data.json"}  # written by the commands the documents describe
MODULE = re.compile(rf"`((?:{'|'.join(PACKAGES)})(?:\.[a-z_0-9]+)+)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_file_a_document_names_exists(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    missing = sorted(
        {
            p
            for p in PATH.findall(text)
            if not (ROOT / p).exists()
            and not (doc.parent / p).exists()
            and not p.startswith("var/")
            and p not in GENERATED
        }
    )
    assert missing == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_module_a_document_names_exists(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    missing = [
        name
        for name in sorted(set(MODULE.findall(text)))
        if not _names_something(name) and name not in LOG_EVENTS
    ]
    assert missing == []


def _log_events() -> set[str]:
    """Log event names (``domain.entity.outcome`` strings in the code) look like modules."""
    events: set[str] = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            events.update(
                re.findall(r'"((?:[a-z_]+\.){2,}[a-z_]+)"', path.read_text(encoding="utf-8"))
            )
    return events


LOG_EVENTS = _log_events()


def _names_something(dotted: str) -> bool:
    """``pkg.module[.attribute...]``: the longest module prefix exists and, if an attribute
    follows, the module defines (or imports) it."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:n])
        source = (
            base.with_suffix(".py") if base.with_suffix(".py").exists() else base / "__init__.py"
        )
        if not source.exists():
            continue
        if n == len(parts):
            return True
        attribute = re.escape(parts[n])
        defined = (
            rf"^(?:async def|def|class) {attribute}\b|^{attribute}\s*[:=]|import .*\b{attribute}\b"
        )
        return re.search(defined, source.read_text(encoding="utf-8"), re.M) is not None
    return False
