"""Redis access: one client per process, a key namespace, and an explicit down-policy.

Redis is a cache and a fast counter; it may lose everything at any moment. Callers use
``RedisHealth`` to skip Redis for a short while after a failure (the circuit is "open"),
so a dead Redis costs one timeout, not one per request. While the circuit is open a
background probe pings Redis every ``retry_after_s``, so the first success closes it (and
``/health`` says so) without waiting for a request to try. ``memory://`` gives an in-process
Redis-compatible store (fakeredis, with Lua) for the embedded default.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from kernel.settings import Settings

__all__ = ["REDIS_DOWN_ERRORS", "Redis", "RedisHealth", "create_redis"]

Redis = aioredis.Redis
REDIS_DOWN_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
)

log = structlog.get_logger("kernel.cache")


def create_redis(settings: Settings) -> aioredis.Redis:
    """Build the client; nothing connects until the first command."""
    if settings.redis.is_embedded:
        import fakeredis  # only the embedded default needs it

        server = fakeredis.FakeServer()
        client: aioredis.Redis = fakeredis.FakeAsyncRedis(server=server)
        return client
    return aioredis.Redis.from_url(
        settings.redis.url,
        socket_timeout=settings.redis.timeout_s,
        socket_connect_timeout=settings.redis.timeout_s,
        health_check_interval=30,
        max_connections=256,
    )


class RedisHealth:
    """Tracks whether Redis answered recently; a tiny circuit breaker with logging.

    ``probe`` (a cheap command such as PING) is run in the background while the circuit is
    open: its first success closes the circuit."""

    def __init__(
        self, retry_after_s: float, probe: Callable[[], Awaitable[Any]] | None = None
    ) -> None:
        self.retry_after_s = retry_after_s
        self._down_until = 0.0
        self.failures = 0
        self.last_error: str | None = None
        self._probe = probe
        self._probe_task: asyncio.Task[None] | None = None

    @property
    def available(self) -> bool:
        """False while the circuit is open: callers go straight to the database."""
        return time.monotonic() >= self._down_until

    @property
    def state(self) -> str:
        return (
            "up"
            if self.available and self.last_error is None
            else ("down" if not self.available else "recovering")
        )

    def record_failure(self, exc: BaseException) -> None:
        self.failures += 1
        first = self.available
        self._down_until = time.monotonic() + self.retry_after_s
        self.last_error = f"{type(exc).__name__}: {exc}"
        if first:
            log.warning("cache.redis.down", error=self.last_error, retry_after_s=self.retry_after_s)
        self._start_probe()

    def record_success(self) -> None:
        if self.last_error is not None:
            log.info("cache.redis.recovered", after_failures=self.failures)
        self.last_error = None
        self._down_until = 0.0

    def _start_probe(self) -> None:
        if self._probe is None or (self._probe_task is not None and not self._probe_task.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a sync caller): the next request's try recovers
            return
        self._probe_task = loop.create_task(self._probe_until_up(), name="redis-health-probe")

    async def _probe_until_up(self) -> None:
        assert self._probe is not None
        while self.last_error is not None:
            await asyncio.sleep(max(0.0, self._down_until - time.monotonic()))
            if self._recovered():  # a request got through first
                return
            try:
                await self._probe()
            except (RedisError, OSError) as exc:  # any failure: still down
                self.failures += 1
                self._down_until = time.monotonic() + self.retry_after_s
                self.last_error = f"{type(exc).__name__}: {exc}"
            else:
                self.record_success()

    def _recovered(self) -> bool:
        return self.last_error is None

    async def close(self) -> None:
        """Stop the background probe (at shutdown)."""
        task, self._probe_task = self._probe_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def snapshot(self) -> dict[str, Any]:
        return {"state": self.state, "failures": self.failures, "last_error": self.last_error}
