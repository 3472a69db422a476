"""Run Alembic migrations programmatically: the only way the schema is ever made."""

from __future__ import annotations

import asyncio
import concurrent.futures
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

from kernel.settings import Settings

__all__ = ["alembic_config", "upgrade", "upgrade_async"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(settings: Settings, target_metadata: Any = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["settings"] = settings
    config.attributes["target_metadata"] = target_metadata
    return config


def upgrade(settings: Settings, revision: str = "heads") -> None:
    """Bring the database at ``settings.database.url`` to ``revision`` (blocking)."""
    if settings.database.is_sqlite:
        path = settings.database.url.split("///", 1)[-1]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        command.upgrade(alembic_config(settings), revision)
        return
    # Alembic's env.py runs its own event loop: never inside a running one (tests, servers).
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(command.upgrade, alembic_config(settings), revision).result()


async def upgrade_async(settings: Settings, revision: str = "heads") -> None:
    """Same, from async code (Alembic's env runs its own event loop, so use a thread)."""
    await asyncio.to_thread(upgrade, settings, revision)
