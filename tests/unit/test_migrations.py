"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from admin_api.schema import all_metadata
from kernel.db import create_engine
from kernel.migrate import alembic_config
from kernel.partitions import include_in_autogenerate
from tests.conftest import _in_thread, base_settings


def _diff(url: str, schema: str | None) -> list[Any]:
    settings = base_settings(database={"url": url, "search_path": schema})
    metadata = all_metadata()

    def compare(connection: Connection) -> list[Any]:
        opts = {"compare_type": True, "include_name": include_in_autogenerate}
        context = MigrationContext.configure(connection, opts=opts)
        return list(compare_metadata(context, metadata))

    async def run() -> list[Any]:
        engine = create_engine(settings, nullpool=True)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(compare)
        finally:
            await engine.dispose()

    return _in_thread(run)


def test_sqlite_schema_matches_models(sqlite_template: Path) -> None:
    assert _diff(f"sqlite+aiosqlite:///{sqlite_template}", None) == []


def test_postgres_schema_matches_models(postgres_schema: tuple[str, str]) -> None:
    url, schema = postgres_schema
    assert _diff(url, schema) == []


def test_one_root_and_every_head_reachable() -> None:
    script = ScriptDirectory.from_config(alembic_config(base_settings()))
    bases = script.get_bases()
    assert bases == ["0001"], f"migrations must share one root, found {bases}"
    for head in script.get_heads():
        assert list(script.iterate_revisions(head, "base")), head
