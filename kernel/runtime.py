"""The expensive clients of one process, created once at start-up and closed at shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from kernel.cache import Redis, RedisHealth, create_redis
from kernel.db import create_engine, create_session_factory
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

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        engine = create_engine(settings)
        return cls(
            settings=settings,
            engine=engine,
            session_factory=create_session_factory(engine),
            redis=create_redis(settings),
            redis_health=RedisHealth(settings.redis.retry_after_s),
        )

    def key(self, *parts: object) -> str:
        """A namespaced Redis key: ``<prefix>domain:purpose:id``."""
        return self.settings.redis.prefix + ":".join(str(p) for p in parts)

    async def close(self) -> None:
        await self.redis.aclose()
        await self.engine.dispose()


def run_job(settings: Settings, job: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run one async job (CLI command, worker step) with its own Runtime, then close it."""

    async def main() -> T:
        runtime = Runtime.create(settings)
        try:
            return await job(runtime)
        finally:
            await runtime.close()

    return asyncio.run(main())
