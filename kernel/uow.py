"""The unit of work: one transaction per request or job, and what must run after it commits.

Services only flush; the boundary (``provide_db_session`` for a request, ``session_scope``
for a job or CLI command) commits. Work that must see the committed state, such as dropping
cached copies the scan path would otherwise re-read from the old rows, is registered with
``after_commit`` and runs once the COMMIT has landed (never when the transaction rolls back).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

__all__ = ["AfterCommit", "after_commit", "commit", "provide_db_session", "session_scope"]

AfterCommit = Callable[[], Awaitable[Any]]
_AFTER_COMMIT = "scanguard.after_commit"


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` after this session's transaction commits (in registration order)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


async def commit(session: AsyncSession) -> None:
    """Commit, then run the callbacks registered with ``after_commit`` for this transaction."""
    await session.commit()
    callbacks: list[AfterCommit] = session.info.pop(_AFTER_COMMIT, [])
    for callback in callbacks:
        await callback()


async def _rollback(session: AsyncSession) -> None:
    session.info.pop(_AFTER_COMMIT, None)
    await session.rollback()


async def provide_db_session(state: State) -> AsyncIterator[AsyncSession]:
    """Dependency ``db``: a session per request, committed when the handler returns."""
    factory: async_sessionmaker[AsyncSession] = state.session_factory
    async with factory() as session:
        try:
            yield session
            await commit(session)
        except BaseException:
            await _rollback(session)
            raise


@asynccontextmanager
async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any error (jobs, CLI, tests)."""
    async with factory() as session:
        try:
            yield session
            await commit(session)
        except BaseException:
            await _rollback(session)
            raise
