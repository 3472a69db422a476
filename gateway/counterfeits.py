"""Counterfeit attempts: counted in memory, flushed in aggregate, limited without I/O.

A forged code must cost no I/O on the request path, so attempts are tallied per
(hour, GTIN, client IP, reason) in this process and upserted every few seconds; the per-IP
limit for forged codes is an in-process fixed window (an enumeration attack is stopped by the
MAC anyway; the limit keeps one client from burning CPU).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import structlog
from sqlalchemy import Table, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from anticounterfeit.codes.metadata import products_by_gtin
from gateway.models import CounterfeitAttempt
from kernel.errors import RateLimited

__all__ = ["CounterfeitRecorder"]

log = structlog.get_logger("gateway.counterfeits")


@dataclass(slots=True)
class _Tally:
    count: int
    first_seen: float  # POSIX timestamps: no datetime per forged scan, converted at the flush
    last_seen: float


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class CounterfeitRecorder:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        per_ip_per_minute: int,
        flush_interval_s: float = 5.0,
    ) -> None:
        self.session_factory = session_factory
        self.per_ip_per_minute = per_ip_per_minute
        self.flush_interval_s = flush_interval_s
        self._tallies: dict[tuple[int, str, str, str], _Tally] = {}  # (hour, gtin, ip, reason)
        self._windows: dict[str, tuple[int, int]] = {}  # ip -> (minute, count)
        self._task: asyncio.Task[None] | None = None
        self.recorded = 0

    def check_and_record(self, gtin: str, ip: str, reason: str) -> None:
        """Count one forged scan; raise RateLimited past the per-IP limit. No I/O."""
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
        key = (int(now // 3600), gtin, ip, reason)
        tally = self._tallies.get(key)
        if tally is None:
            self._tallies[key] = _Tally(1, now, now)
        else:
            tally.count += 1
            tally.last_seen = now
        self.recorded += 1

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="counterfeit-flusher")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            await self.flush()
            self._prune_windows()

    def _prune_windows(self) -> None:
        minute = int(time.time() // 60)
        for ip in [ip for ip, (window, _) in self._windows.items() if window < minute]:
            del self._windows[ip]

    async def flush(self) -> None:
        """Upsert the tallies gathered so far (they are kept for the next try on failure)."""
        if not self._tallies:
            return
        tallies, self._tallies = self._tallies, {}
        try:
            async with self.session_factory() as session, session.begin():
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
                dialect = session.bind.dialect.name if session.bind else "postgresql"
                # One statement for all rows (executemany), not one built and compiled per row.
                conn = await session.connection()
                await conn.execute(_upsert(dialect), rows)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("gateway.counterfeits.flush_failed", error=str(exc), pending=len(tallies))
            for key, tally in tallies.items():  # keep them for the next flush
                kept = self._tallies.setdefault(key, _Tally(0, tally.first_seen, tally.last_seen))
                kept.count += tally.count
            return
        log.debug("gateway.counterfeits.flushed", buckets=len(tallies))


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
