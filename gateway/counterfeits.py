"""Counterfeit attempts: counted in memory, flushed in aggregate, limited without I/O.

A forged code must cost no network I/O and no database write on the request path, so
attempts are tallied per (hour, GTIN, client IP, reason) in this process and upserted every
few seconds; the per-IP limit for forged codes is an in-process fixed window (an enumeration
attack is stopped by the MAC anyway; the limit keeps one client from burning CPU). Each
attempt is also appended to a local journal (``gateway.counterfeit_journal``): a killed
process's tallies are replayed from it at the next start, exactly once.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import structlog
from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from anticounterfeit.codes.metadata import products_by_gtin
from gateway.counterfeit_journal import CounterfeitJournal, Segment, orphan_segments, read_segment
from gateway.models import CounterfeitAttempt, CounterfeitFlush
from kernel.errors import RateLimited
from kernel.settings import Settings

__all__ = ["CounterfeitRecorder", "journal_dir_for"]

log = structlog.get_logger("gateway.counterfeits")


@dataclass(slots=True)
class _Tally:
    count: int
    first_seen: float  # POSIX timestamps: no datetime per forged scan, converted at the flush
    last_seen: float


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


_Key = tuple[int, str, str, str]  # (hour, gtin, ip, reason)
_Tallies = dict[_Key, _Tally]
LEDGER_RETENTION = timedelta(days=1)  # far longer than any retry of a failed flush


def journal_dir_for(settings: Settings) -> Path:
    """This database's journal directory under ``var_dir``: named by a hash of the database
    URL and schema, so a segment is never replayed into another database sharing the dir."""
    target = f"{settings.database.url}|{settings.database.search_path or ''}"
    return (
        settings.var_dir / "counterfeit-journal" / hashlib.sha256(target.encode()).hexdigest()[:16]
    )


class CounterfeitRecorder:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        per_ip_per_minute: int,
        flush_interval_s: float = 5.0,
        journal_dir: Path | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.per_ip_per_minute = per_ip_per_minute
        self.flush_interval_s = flush_interval_s
        self.journal_dir = journal_dir
        self._journal: CounterfeitJournal | None = None
        self._tallies: _Tallies = {}
        # Flushed segments not known to be committed, each with its own tallies: a flush
        # whose COMMIT landed but whose reply was lost is found in the ledger, not redone.
        self._pending: list[tuple[Segment, _Tallies]] = []
        self._windows: dict[str, tuple[int, int]] = {}  # ip -> (minute, count)
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.recorded = 0
        self.replayed = 0

    def check_and_record(self, gtin: str, ip: str, reason: str) -> None:
        """Count one forged scan; raise RateLimited past the per-IP limit. No network I/O:
        one append to the local journal."""
        now = time.time()
        minute = int(now // 60)
        window, seen = self._windows.get(ip, (minute, 0))
        if window != minute:
            window, seen = minute, 0
        seen += 1
        self._windows[ip] = (window, seen)
        if seen > self.per_ip_per_minute:
            raise RateLimited(
                "too many scans from this address; try again later",
                retry_after=60 - int(now % 60),
            )
        _count(self._tallies, (int(now // 3600), gtin, ip, reason), now, 1, now)
        if self._journal is not None:
            self._journal.write(f"{now!r}\t{gtin}\t{ip}\t{reason}\n".encode())
        self.recorded += 1

    async def start(self) -> None:
        await self.replay()
        self._journal = CounterfeitJournal(self.journal_dir)
        self._task = asyncio.create_task(self._run(), name="counterfeit-flusher")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()
        if self._journal is not None:
            if self._tallies or self._pending:  # not committed: replayed at the next start
                for segment, _ in self._pending:
                    segment.close()
                self._journal.close()
            else:
                self._journal.current.discard()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            await self.flush()
            self._prune_windows()

    def _prune_windows(self) -> None:
        minute = int(time.time() // 60)
        for ip in [ip for ip, (window, _) in self._windows.items() if window < minute]:
            del self._windows[ip]

    async def replay(self) -> int:
        """Commit the segments a dead process left (unless the ledger has them); return the
        forged scans replayed."""
        replayed = 0
        for segment, path in orphan_segments(self.journal_dir):
            tallies: _Tallies = {}
            for at, gtin, ip, reason in read_segment(path):
                _count(tallies, (int(at // 3600), gtin, ip, reason), at, 1, at)
            try:
                if tallies and await self._commit([(segment, tallies)]):
                    replayed += sum(t.count for t in tallies.values())
            except (SQLAlchemyError, OSError) as exc:  # kept on disk for the next start
                log.warning("gateway.counterfeits.replay_failed", error=str(exc))
                segment.close()
                continue
            segment.discard()
        if replayed:
            log.info("gateway.counterfeits.replayed", scans=replayed)
        self.replayed += replayed
        return replayed

    async def flush(self) -> None:
        """Upsert the tallies gathered so far with their journal segment's id; on failure
        they are kept, apart, for the next try."""
        async with self._lock:
            if self._tallies:
                # Not started (a test driving the recorder directly): no journal to rotate.
                journal = self._journal
                segment = journal.rotate() if journal else Segment(None, uuid.uuid4())
                self._pending.append((segment, self._tallies))
                self._tallies = {}
            if not self._pending:
                return
            try:
                await self._commit(self._pending)
            except (SQLAlchemyError, OSError) as exc:
                log.warning(
                    "gateway.counterfeits.flush_failed", error=str(exc), batches=len(self._pending)
                )
                return
            for segment, _ in self._pending:
                segment.discard()
            self._pending = []

    async def _commit(self, batches: list[tuple[Segment, _Tallies]]) -> bool:
        """One transaction: the tallies of the batches the ledger does not hold yet, and
        their ids; return whether anything was written."""
        ledger = cast(Table, CounterfeitFlush.__table__)
        now = datetime.now(UTC)
        async with self.session_factory() as session, session.begin():
            conn = await session.connection()
            ids = [segment.id for segment, _ in batches]
            landed = set(
                (await conn.execute(select(ledger.c.id).where(ledger.c.id.in_(ids)))).scalars()
            )
            todo = [(s, t) for s, t in batches if s.id not in landed]
            if not todo:
                return False
            tallies: _Tallies = {}
            for _, batch in todo:
                for key, tally in batch.items():
                    _count(tallies, key, tally.first_seen, tally.count, tally.last_seen)
            await conn.execute(_upsert(conn.dialect.name), await _rows(session, tallies))
            await conn.execute(ledger.insert(), [{"id": s.id, "flushed_at": now} for s, _ in todo])
            await conn.execute(ledger.delete().where(ledger.c.flushed_at < now - LEDGER_RETENTION))
        log.debug("gateway.counterfeits.flushed", buckets=len(tallies))
        return True


def _count(tallies: _Tallies, key: _Key, first: float, count: int, last: float) -> None:
    tally = tallies.get(key)
    if tally is None:
        tallies[key] = _Tally(count, first, last)
    else:
        tally.count += count
        tally.first_seen = min(tally.first_seen, first)
        tally.last_seen = max(tally.last_seen, last)


async def _rows(session: AsyncSession, tallies: _Tallies) -> list[dict[str, Any]]:
    owners = await products_by_gtin(session, {k[1] for k in tallies})
    rows = []
    for (hour, gtin, ip, reason), tally in tallies.items():
        brand_id, product_id = owners.get(gtin, (None, None))
        rows.append(
            {
                "bucket_start": _utc(hour * 3600),
                "gtin": gtin,
                "ip": ip,
                "reason": reason,
                "brand_id": brand_id,
                "product_id": product_id,
                "count": tally.count,
                "first_seen": _utc(tally.first_seen),
                "last_seen": _utc(tally.last_seen),
            }
        )
    return rows


def _upsert(dialect: str) -> Any:
    """INSERT .. ON CONFLICT (bucket, gtin, ip, reason) DO UPDATE adding the count."""
    table = cast(Table, CounterfeitAttempt.__table__)
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    latest = func.max if dialect == "sqlite" else func.greatest
    return ins.on_conflict_do_update(
        index_elements=["bucket_start", "gtin", "ip", "reason"],
        set_={
            "count": table.c.count + ins.excluded.count,
            "last_seen": latest(ins.excluded.last_seen, table.c.last_seen),
        },
    )
