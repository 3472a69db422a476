"""The JetStream side: the stream made to match the settings, and ordered, de-duplicated
publishing.

Ordering: messages of one connection reach the server in the order they were written, so a
batch written in id order is stored in id order. Acknowledgements are awaited per *window*:
a run of messages in which no ordering key (a code) appears twice. If a publish in a window
fails, the step stops before the next window, so a retry can never store a code's later
event ahead of an earlier one that was lost; a message of the window that did land is
recognised by its ``Nats-Msg-Id`` when the batch is published again (the stream's duplicate
window), and stored once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import nats
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig, StreamInfo
from nats.js.errors import NotFoundError

from admin_api.streaming.events import StreamMessage
from kernel.settings import StreamSettings

__all__ = ["JetStreamPublisher", "PublishResult", "stream_config", "windows"]

log = structlog.get_logger("admin_api.streaming.publisher")

#: Messages awaited together at most (the client allows 4,000 pending by default).
MAX_WINDOW = 1_000
CONNECT_ATTEMPTS = 3


async def _log_error(exc: Exception) -> None:
    """The client's error callback: one line, not its default traceback per retry."""
    log.warning("streaming.nats.error", error=repr(exc)[:200])


@dataclass(frozen=True, slots=True)
class PublishResult:
    stored: int
    duplicates: int


def stream_config(settings: StreamSettings) -> StreamConfig:
    """The stream the settings describe: every ``<prefix>.>`` subject, kept by age, on disk."""
    max_age = settings.max_age_days * 86_400
    window = settings.duplicate_window_s
    if max_age:  # JetStream refuses a duplicate window longer than the maximum age
        window = min(window, max_age)
    return StreamConfig(
        name=settings.stream_name,
        description="scanguard scan, alert, recall and claim events (docs/streaming.md)",
        subjects=[f"{settings.subject_prefix}.>"],
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        storage=StorageType.FILE,
        max_age=max_age,
        duplicate_window=window,
        num_replicas=settings.replicas,
    )


def windows(messages: Sequence[StreamMessage]) -> Iterator[Sequence[StreamMessage]]:
    """Consecutive runs of ``messages`` in which no ordering key repeats."""
    start, keys = 0, set[str]()
    for i, message in enumerate(messages):
        if message.order_key in keys or i - start >= MAX_WINDOW:
            yield messages[start:i]
            start, keys = i, set()
        keys.add(message.order_key)
    if start < len(messages):
        yield messages[start:]


class JetStreamPublisher:
    """One NATS connection; ``connect`` makes the stream match the settings."""

    def __init__(self, settings: StreamSettings) -> None:
        self.settings = settings
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("JetStreamPublisher.connect() first")
        return self._js

    async def connect(self) -> StreamInfo:
        """Connect (the client reconnects by itself afterwards) and create or update the stream."""
        self._nc = await nats.connect(
            servers=[s.strip() for s in self.settings.url.split(",") if s.strip()],
            name="scanguard-stream",
            connect_timeout=self.settings.publish_timeout_s,
            # A few tries at start (then the command fails, naming the server); once
            # connected, reconnect for ever: the step in flight fails and is retried.
            max_reconnect_attempts=CONNECT_ATTEMPTS,
            reconnect_time_wait=1.0,
            error_cb=_log_error,
        )
        self._nc.options["max_reconnect_attempts"] = -1
        self._js = self._nc.jetstream(timeout=self.settings.publish_timeout_s)
        return await self.ensure_stream()

    async def ensure_stream(self) -> StreamInfo:
        """Create the stream, or update it to the settings (idempotent: every start)."""
        config = stream_config(self.settings)
        assert config.name is not None
        try:
            await self.js.stream_info(config.name)
        except NotFoundError:
            info = await self.js.add_stream(config)
            log.info("streaming.stream.created", stream=config.name)
            return info
        return await self.js.update_stream(config)

    async def publish(self, messages: Sequence[StreamMessage]) -> PublishResult:
        """Publish in order, window by window; raise if any acknowledgement fails."""
        stored = duplicates = 0
        for window in windows(messages):
            pending = [
                await self.js.publish_async(m.subject, m.body, headers=m.headers) for m in window
            ]
            acks = await asyncio.wait_for(
                asyncio.gather(*pending), timeout=self.settings.publish_timeout_s
            )
            dup = sum(1 for ack in acks if ack.duplicate)
            duplicates += dup
            stored += len(acks) - dup
        return PublishResult(stored=stored, duplicates=duplicates)

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.drain()
        self._nc = self._js = None
