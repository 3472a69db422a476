"""Cross-worker invalidation messages over Redis pub/sub, with the down-policy built in.

A cache that lives in every worker's memory subscribes once at start-up; a writer publishes
after its commit. Redis failing only delays messages (callers keep a TTL for that): the
listener logs, waits a second and subscribes again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from kernel.cache import REDIS_DOWN_ERRORS
from kernel.runtime import Runtime

__all__ = ["listen"]

log = structlog.get_logger("kernel.pubsub")


async def listen(runtime: Runtime, channel: str, on_message: Callable[[str], None]) -> None:
    """Call ``on_message(text)`` for every message on ``channel`` until cancelled.

    ``on_message`` may raise ``ValueError`` for a malformed message: it is logged and the
    subscription is renewed.
    """
    while True:
        pubsub = runtime.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(channel)
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message and message.get("type") == "message":
                    data = message["data"]
                    on_message(data.decode() if isinstance(data, bytes) else str(data))
        except asyncio.CancelledError:
            raise
        except (*REDIS_DOWN_ERRORS, RuntimeError, ValueError) as exc:  # type: ignore[misc]  # tuple of exception types
            log.warning("pubsub.listener.failed", channel=channel, error=str(exc))
            await asyncio.sleep(1.0)
        finally:
            with contextlib.suppress(*REDIS_DOWN_ERRORS, RuntimeError):
                await asyncio.shield(pubsub.aclose())
