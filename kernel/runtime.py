"""The expensive clients of one process, created once at start-up and closed at shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from kernel.cache import Redis, RedisHealth, create_redis
from kernel.db import create_engine, create_read_engine, create_session_factory
from kernel.installation import load_install_id
from kernel.settings import Settings

__all__ = ["Runtime", "run_job"]

T = TypeVar("T")


@dataclass(slots=True)
class Runtime:
    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    redis: Redis
    redis_health: RedisHealth
    install_id: str | None = None  # the database's (kernel.installation); load_install_id
    # The read replica's engine (SCANGUARD_DATABASE_REPLICA_URL), None without one; its
    # sessions (``read_session_factory``) fall back to the primary's.
    read_engine: AsyncEngine | None = None
    read_session_factory: async_sessionmaker[AsyncSession] | None = None

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        engine = create_engine(settings)
        redis = create_redis(settings)
        read_engine = create_read_engine(settings)
        session_factory = create_session_factory(engine)
        return cls(
            settings=settings,
            engine=engine,
            session_factory=session_factory,
            read_engine=read_engine,
            read_session_factory=(
                create_session_factory(read_engine) if read_engine else session_factory
            ),
            redis=redis,
            redis_health=RedisHealth(settings.redis.retry_after_s, probe=redis.ping),
        )

    def key(self, *parts: object) -> str:
        """A namespaced Redis key: ``<prefix>domain:purpose:id``."""
        return self.settings.redis.prefix + ":".join(str(p) for p in parts)

    async def load_install_id(self) -> str:
        """Read the database's install id (once per process; later calls are free)."""
        if self.install_id is None:
            self.install_id = await load_install_id(self.session_factory)
        return self.install_id

    def scoped_key(self, *parts: object) -> str:
        """A key for state cached about this database's rows: ``<prefix><install id>:…``, so
        another database (dropped and created again) never reads it. Needs
        ``load_install_id`` first."""
        if self.install_id is None:
            raise RuntimeError("Runtime.load_install_id() was not awaited")
        return self.key(self.install_id, *parts)

    async def close(self) -> None:
        await self.redis_health.close()
        await self.redis.aclose()
        await self.engine.dispose()
        if self.read_engine is not None:
            await self.read_engine.dispose()


def run_job(settings: Settings, job: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run one async job (CLI command, worker step) with its own Runtime, then close it."""

    async def main() -> T:
        runtime = Runtime.create(settings)
        try:
            return await job(runtime)
        finally:
            await runtime.close()

    return asyncio.run(main())
