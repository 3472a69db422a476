"""kernel.db on SQLite: a SAVEPOINT issued as the first write is inside a real transaction."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from kernel.db import create_engine, create_session_factory
from tests.conftest import _in_thread, base_settings


def test_savepoint_as_first_write_is_undone_by_rollback(tmp_path: Path) -> None:
    settings = base_settings(database={"url": f"sqlite+aiosqlite:///{tmp_path / 'sp.db'}"})

    async def run() -> int:
        engine = create_engine(settings, nullpool=True)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("CREATE TABLE t (x INTEGER)"))
            sessions = create_session_factory(engine)
            async with sessions() as session:
                await session.execute(text("SELECT 1"))
                async with session.begin_nested():
                    await session.execute(text("INSERT INTO t VALUES (1)"))
                await session.rollback()
            async with sessions() as session:
                return int(await session.scalar(text("SELECT count(*) FROM t")) or 0)
        finally:
            await engine.dispose()

    assert _in_thread(run) == 0
