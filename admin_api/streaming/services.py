"""The publisher's durable cursors: claim one, read its source after it, move it on.

The cursor row is locked (``FOR UPDATE`` on PostgreSQL) for the whole step: read, publish,
advance. Two publishers of one stream therefore take turns instead of interleaving, which
keeps each code's events in order on the stream. SQLite serialises writers by itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from admin_api.streaming.events import StreamMessage, outbox_message, scan_message
from admin_api.streaming.models import StreamCursor
from gateway.queries import scan_log_after
from kernel.db import utcnow
from kernel.outbox import OutboxEvent
from kernel.runtime import Runtime

__all__ = [
    "GAP_WINDOW",
    "SOURCES",
    "Source",
    "advance",
    "claim_cursor",
    "cursor_rows",
    "read_outbox",
    "read_scans",
]

# An id missing below the cursor is looked for again this long: longer than any transaction
# that inserts scans or outbox events stays open (the notification worker uses the same).
GAP_WINDOW = timedelta(minutes=5)
# A run of missing ids longer than this is not a transaction in flight (rows deleted by
# retention, a sequence jump): it is not remembered, nor are more than MAX_GAPS ids at once.
MAX_GAP_RUN = 2_000
MAX_GAPS = 2_000

#: (source id, message or None when that row is not streamed), in id order.
Rows = Sequence[tuple[int, StreamMessage | None]]
Reader = Callable[[AsyncSession, str, int, Sequence[int], int], Awaitable[Rows]]


@dataclass(frozen=True, slots=True)
class Source:
    """A table the publisher follows: its cursor name and how to read it in id order."""

    name: str
    read: Reader


async def claim_cursor(session: AsyncSession, consumer: str, source: str) -> StreamCursor:
    """The (consumer, source) cursor, created at position 0 the first time, locked."""
    values = {
        "consumer": consumer,
        "source": source,
        "position": 0,
        "gaps": [],
        "published": 0,
        "updated_at": utcnow(),
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(insert(StreamCursor).values(values).on_conflict_do_nothing())
    cursor = await session.scalar(
        select(StreamCursor)
        .where(StreamCursor.consumer == consumer, StreamCursor.source == source)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert cursor is not None  # inserted above or already there
    return cursor


def gap_ids(cursor: StreamCursor) -> list[int]:
    """Ids below the position still looked for."""
    return [int(item[0]) for item in cursor.gaps or []]


def advance(cursor: StreamCursor, seen: Sequence[int], now: datetime | None = None) -> bool:
    """Move the cursor past ``seen`` (the ids just published, in id order): remember the ids
    skipped over, forget gaps found or expired. True when anything changed."""
    now = now or utcnow()
    found = set(seen)
    oldest = (now - GAP_WINDOW).timestamp()
    gaps = [[i, first] for i, first in cursor.gaps or [] if i not in found and first >= oldest]
    newer = [i for i in seen if i > cursor.position]
    position = cursor.position
    if newer:
        # A fresh cursor has nothing in flight to wait for: ids below the first row are gone.
        expected = position + 1 if position > 0 else newer[0]
        stamp = now.timestamp()
        for i in newer:
            if 0 < i - expected <= MAX_GAP_RUN:
                gaps.extend([missing, stamp] for missing in range(expected, i))
            expected = i + 1
        position = newer[-1]
    gaps = gaps[-MAX_GAPS:]
    if position == cursor.position and gaps == (cursor.gaps or []):
        return False
    cursor.position, cursor.gaps, cursor.updated_at = position, gaps, now
    return True


async def read_outbox(
    session: AsyncSession, prefix: str, after: int, also: Sequence[int], limit: int
) -> Rows:
    """Outbox events after ``after`` (and the awaited ``also`` ids), as messages."""
    newer = OutboxEvent.id > after
    where = or_(newer, OutboxEvent.id.in_(list(also))) if also else newer
    events = await session.scalars(
        select(OutboxEvent).where(where).order_by(OutboxEvent.id).limit(limit + len(also))
    )
    return [(e.id, outbox_message(prefix, e)) for e in events]


async def read_scans(
    session: AsyncSession, prefix: str, after: int, also: Sequence[int], limit: int
) -> Rows:
    """Scan log rows after ``after`` (and the awaited ``also`` ids), as messages."""
    scans = await scan_log_after(session, after, limit=limit, also_ids=also)
    return [(s.id, scan_message(prefix, s)) for s in scans]


#: Outbox first: it is small, and an alert reaches the stream without waiting for a scan
#: backlog to drain.
SOURCES = (Source("outbox", read_outbox), Source("scans", read_scans))


async def cursor_rows(runtime: Runtime, consumer: str) -> list[tuple[str, int, int, int]]:
    """``(source, position, ids awaited, messages published)`` of each of a stream's cursors."""
    async with runtime.session_factory() as session:
        cursors = await session.scalars(
            select(StreamCursor).where(StreamCursor.consumer == consumer).order_by("source")
        )
        return [(c.source, c.position, len(c.gaps or []), c.published) for c in cursors]
