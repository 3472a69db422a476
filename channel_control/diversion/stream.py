"""Live stream of new diversion alerts to brand managers (server-sent events).

One ``AlertBroadcaster`` per process. With a real Redis, ``publish`` goes through Redis
pub/sub and every worker's listener hands the message to its own subscribers, so a manager
connected to worker A sees alerts opened by worker B's flush. With the embedded store (one
process) messages go straight to the local subscribers. A subscriber is a bounded queue per
open stream, filtered by brand; a slow reader loses messages rather than holding memory
(the alert list is the record, the stream only a notification).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import structlog

from kernel.cache import REDIS_DOWN_ERRORS
from kernel.runtime import Runtime

__all__ = ["AlertBroadcaster"]

log = structlog.get_logger("channel_control.diversion_stream")

CHANNEL = "cc:diversion:alerts"
QUEUE_SIZE = 100


class AlertBroadcaster:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._subscribers: dict[asyncio.Queue[dict[str, Any]], uuid.UUID] = {}
        self._pubsub: Any = None
        self._listener: asyncio.Task[None] | None = None
        self.dropped = 0

    @property
    def via_redis(self) -> bool:
        return not self.rt.settings.redis.is_embedded

    async def start(self) -> None:
        """Subscribe before returning, so no alert published after start-up is missed."""
        if not self.via_redis:
            return
        try:
            await self._subscribe()
        except REDIS_DOWN_ERRORS as exc:
            log.warning("channel_control.diversion_stream.subscribe_failed", error=str(exc))
        self._listener = asyncio.create_task(self._listen(), name="diversion-alert-stream")

    async def stop(self) -> None:
        if self._listener:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None
        await self._close_pubsub()

    async def _subscribe(self) -> None:
        pubsub = self.rt.redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self.rt.key(CHANNEL))
        self._pubsub = pubsub

    async def _close_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(*REDIS_DOWN_ERRORS, RuntimeError):
                await asyncio.shield(pubsub.aclose())

    async def _listen(self) -> None:
        while True:
            try:
                if self._pubsub is None:
                    await self._subscribe()
                message = await self._pubsub.get_message(timeout=1.0)
                if message and message.get("type") == "message":
                    self._deliver(json.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except (*REDIS_DOWN_ERRORS, RuntimeError, ValueError) as exc:  # type: ignore[misc]  # tuple of exception types
                log.warning("channel_control.diversion_stream.listener_failed", error=str(exc))
                await self._close_pubsub()
                await asyncio.sleep(1.0)

    async def publish(self, payload: dict[str, Any]) -> None:
        """Send an alert message to every subscriber of its brand (all workers)."""
        if self.via_redis:
            try:
                await self.rt.redis.publish(self.rt.key(CHANNEL), json.dumps(payload))
                return
            except REDIS_DOWN_ERRORS as exc:
                log.warning("channel_control.diversion_stream.publish_failed", error=str(exc))
        self._deliver(payload)  # embedded store, or Redis down: this worker's subscribers

    def _deliver(self, payload: dict[str, Any]) -> None:
        brand = payload.get("brand_id")
        for queue, brand_id in list(self._subscribers.items()):
            if str(brand_id) != brand:
                continue
            try:
                queue.put_nowait(payload)
            except asyncio.QueueFull:
                self.dropped += 1

    @contextlib.contextmanager
    def subscription(self, brand_id: uuid.UUID) -> Iterator[asyncio.Queue[dict[str, Any]]]:
        """A queue receiving the brand's new alerts while the context is open."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._subscribers[queue] = brand_id
        try:
            yield queue
        finally:
            self._subscribers.pop(queue, None)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)
