"""The OpenAPI document is part of the contract: a change to it is a visible diff in review.

``tests/data/openapi.json`` is the committed document. A refactoring must leave it identical;
an intended API change regenerates it (``SCANGUARD_UPDATE_OPENAPI=1 pytest
tests/unit/test_openapi_document.py``) and commits the diff with the change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from admin_api.app import create_app
from kernel.settings import Settings

SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "openapi.json"


def _document() -> str:
    settings = Settings(env="test", auth={"jwt_secret": b"x" * 32, "code_keyring": {1: b"k" * 32}})
    doc = create_app(settings).openapi_schema.to_schema()
    return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False)


def test_openapi_document_matches_the_committed_copy() -> None:
    current = _document()
    if os.environ.get("SCANGUARD_UPDATE_OPENAPI") == "1":
        SNAPSHOT.write_text(current, encoding="utf-8")
    committed = SNAPSHOT.read_text(encoding="utf-8")
    assert current == committed, (
        "the OpenAPI document changed; if intended, regenerate tests/data/openapi.json with "
        "SCANGUARD_UPDATE_OPENAPI=1 and commit it with the change"
    )


def test_component_names_are_public_type_names_not_python_module_paths() -> None:
    """Names of schema components are part of the contract: moving a Python module must not
    rename them (Litestar qualifies colliding or generic names with their module path)."""
    doc = json.loads(_document())
    qualified = [name for name in doc["components"]["schemas"] if not name.isidentifier()]
    qualified += [name for name in doc["components"]["schemas"] if "_" in name]
    assert qualified == []
