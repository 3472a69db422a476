"""The stream worker: each source's rows after its cursor → JetStream → the cursor moves on.

One step per source is one short transaction: lock the cursor, read a batch in id order,
publish it and wait for every acknowledgement, advance the cursor, commit. A publisher killed
anywhere in between leaves the cursor where it was; the restarted one publishes the batch
again and JetStream drops what it already stored (same ``Nats-Msg-Id`` within the duplicate
window). So the stream holds every event once, as long as a restart comes within the
duplicate window (``SCANGUARD_NATS_DUPLICATE_WINDOW_S``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from dataclasses import dataclass, field
from typing import Any

import structlog
from nats.errors import Error as NatsError
from sqlalchemy.exc import DBAPIError

from admin_api.streaming.publisher import JetStreamPublisher
from admin_api.streaming.services import SOURCES, Source, advance, claim_cursor, gap_ids
from kernel.runtime import Runtime
from kernel.uow import session_scope

__all__ = ["StreamStats", "StreamWorker", "run_stream"]

log = structlog.get_logger("admin_api.streaming.worker")

PROGRESS_EVERY_S = 10.0
# Failures this worker rides out (server restarting, a timeout, the database locked): log,
# wait a poll interval, try the same batch again.
TRANSIENT = (NatsError, asyncio.TimeoutError, DBAPIError, OSError)


@dataclass
class StreamStats:
    published: dict[str, int] = field(default_factory=lambda: {s.name: 0 for s in SOURCES})
    duplicates: int = 0
    skipped: int = 0
    failed_steps: int = 0
    started_at: float = field(default_factory=time.time)


class StreamWorker:
    """Publishes the scan log and the outbox to the stream; ``run`` loops until ``stop``."""

    def __init__(self, runtime: Runtime, publisher: JetStreamPublisher | None = None) -> None:
        self.runtime = runtime
        self.settings = runtime.settings.stream
        self.publisher = publisher or JetStreamPublisher(self.settings)
        self.stats = StreamStats()

    async def start(self) -> None:
        info = await self.publisher.connect()
        log.info(
            "streaming.worker.started",
            stream=self.settings.stream_name,
            subjects=info.config.subjects,
            messages=info.state.messages,
        )

    async def close(self) -> None:
        await self.publisher.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set; the step in progress (publish + commit) finishes first."""
        last_progress = time.monotonic()
        try:
            while not stop.is_set():
                try:
                    busy = await self.step()
                except TRANSIENT as exc:
                    self.stats.failed_steps += 1
                    log.warning("streaming.worker.step_failed", error=repr(exc)[:200])
                    busy = False
                if time.monotonic() - last_progress >= PROGRESS_EVERY_S:
                    last_progress = time.monotonic()
                    log.info("streaming.worker.progress", **self.snapshot())
                if not busy:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.settings.poll_interval_s)
        finally:
            log.info("streaming.worker.stopped", **self.snapshot())

    async def step(self) -> bool:
        """One batch from every source; True when any source had rows."""
        busy = False
        for source in SOURCES:
            busy = await self.step_source(source) > 0 or busy
        return busy

    async def step_source(self, source: Source) -> int:
        """Publish one batch of ``source``; the number of rows read."""
        async with session_scope(self.runtime.session_factory) as session:
            cursor = await claim_cursor(session, self.settings.stream_name, source.name)
            rows = await source.read(
                session,
                self.settings.subject_prefix,
                cursor.position,
                gap_ids(cursor),
                self.settings.batch_size,
            )
            messages = [m for _, m in rows if m is not None]
            if messages:
                result = await self.publisher.publish(messages)
                self.stats.published[source.name] += result.stored
                self.stats.duplicates += result.duplicates
                cursor.published += result.stored
            self.stats.skipped += len(rows) - len(messages)
            advance(cursor, [i for i, _ in rows])
        return len(rows)

    def snapshot(self) -> dict[str, Any]:
        s = self.stats
        return {
            "published": dict(s.published),
            "duplicates": s.duplicates,
            "skipped": s.skipped,
            "failed_steps": s.failed_steps,
            "uptime_s": round(time.time() - s.started_at, 1),
        }


async def run_stream(runtime: Runtime, *, once: bool = False) -> dict[str, Any]:
    """Run until SIGTERM/SIGINT (the batch in flight is acknowledged and committed first), or
    until nothing is left with ``once``."""
    worker = StreamWorker(runtime)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await worker.start()
        if once:
            while not stop.is_set() and await worker.step():
                pass
        else:
            await worker.run(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await worker.close()
    return worker.snapshot()
