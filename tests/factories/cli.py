"""The environment a CLI test runs the ``scanguard`` command in: a migrated SQLite file."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from pathlib import Path

import pytest

from kernel.migrate import upgrade
from kernel.settings import Settings

__all__ = ["cli_settings"]


def cli_settings(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    code_key_ids: Iterable[int] = (1, 2),
    **extra: str,
) -> Settings:
    """Set ``SCANGUARD_*`` for a test install under ``tmp_path`` (``extra``: more variables
    without the prefix), migrate it and return its settings as the CLI reads them."""
    keys = ",".join(f"{k}:{base64.b64encode(bytes([k]) * 32).decode()}" for k in code_key_ids)
    for name, value in {
        "ENV": "test",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "JWT_SECRET": "x" * 40,
        "CODE_KEYS": keys,
        "VAR_DIR": str(tmp_path),
        "LOG_LEVEL": "WARNING",
        **extra,
    }.items():
        monkeypatch.setenv(f"SCANGUARD_{name}", value)
    settings = Settings.from_env()
    upgrade(settings)
    return settings
