"""Durable scan log with group commit.

Scans queue up for a few milliseconds and are written in one transaction (one multi-row
insert); every waiting request is answered only after that commit, so an answered scan is in
the database even if the process dies a moment later. The same transaction inserts the
first-scan claims (``code_first_scans``, primary key on the code): the database, not Redis,
decides which scan of a code is the genuine first one; and the follow-ups of scans with channel
consequences (``gateway.followups``): what a crash leaves of a diversion signal or tally not
yet written is rebuilt from them.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import structlog
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.followups import FOLLOWUP_INSERT, followup_rows
from gateway.models import CodeFirstScan, Scan
from kernel.errors import ServiceUnavailable

__all__ = ["ScanLogWriter", "ScanRecord", "lose_first_claim"]

log = structlog.get_logger("gateway.scanlog")


@dataclass(slots=True)
class ScanRecord:
    """One answered scan, as it goes to the log."""

    scan_uid: uuid.UUID
    scanned_at: datetime
    code_id: int
    brand_id: uuid.UUID
    product_id: uuid.UUID
    roll_id: uuid.UUID
    verdict: str
    device_hash: str
    ip: str
    channel: str
    user_agent: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None
    location_source: str = "none"
    location_confidence: float | None = None
    distributor_id: uuid.UUID | None = None
    shipment_id: uuid.UUID | None = None
    diverted: bool | None = None
    recall_id: uuid.UUID | None = None
    claims_first: bool = False  # this scan asks to be the code's first (genuine) scan

    def row(self) -> dict[str, Any]:
        return {
            "scan_uid": self.scan_uid,
            "scanned_at": self.scanned_at,
            "code_id": self.code_id,
            "brand_id": self.brand_id,
            "product_id": self.product_id,
            "roll_id": self.roll_id,
            "verdict": self.verdict,
            "device_hash": self.device_hash,
            "ip": self.ip,
            "country": self.country,
            "region": self.region,
            "city": self.city,
            "lat": self.lat,
            "lon": self.lon,
            "accuracy_m": self.accuracy_m,
            "location_source": self.location_source,
            "location_confidence": self.location_confidence,
            "distributor_id": self.distributor_id,
            "shipment_id": self.shipment_id,
            "diverted": self.diverted,
            "recall_id": self.recall_id,
            "channel": self.channel,
            "user_agent": self.user_agent,
        }


@dataclass(slots=True)
class _Pending:
    record: ScanRecord
    done: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


# A held connection idle longer than this goes back to the pool, and the next flush takes one
# the pool has checked (pre-ping): under load no flush pays for a ping, after a pause the first
# one does, so a database restart during a quiet spell costs no failed batch.
IDLE_RECHECK_S = 1.0


class ScanLogWriter:
    """Batches scan records into few transactions; ``record`` returns after the commit.

    The writer keeps one connection checked out while scans keep coming: a flush is BEGIN,
    two inserts and COMMIT, without the pool's checkout and liveness ping (a round trip per
    flush, 4% of a genuine scan's samples in the profile of docs/benchmarks.md).
    """

    def __init__(self, engine: AsyncEngine, *, flush_interval_s: float, max_batch: int) -> None:
        self.engine = engine
        self.flush_interval_s = flush_interval_s
        self.max_batch = max_batch
        self._conn: AsyncConnection | None = None
        self._conn_used_at = 0.0
        self._queue: list[_Pending] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.flushes = 0
        self.written = 0

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="scanlog-writer")

    async def stop(self) -> None:
        """Flush what is queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._task:
            await self._task
        await self._release()

    async def _connection(self) -> AsyncConnection:
        now = time.monotonic()
        if self._conn is not None and now - self._conn_used_at > IDLE_RECHECK_S:
            await self._release()
        if self._conn is None:
            self._conn = await self.engine.connect()
        self._conn_used_at = now
        return self._conn

    async def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except (SQLAlchemyError, OSError) as exc:  # a broken connection: the pool drops it
                log.warning("gateway.scanlog.close_failed", error=str(exc))

    async def record(self, record: ScanRecord) -> bool:
        """Queue ``record``; return once committed. True when it won the first-scan claim;
        a lost claim also demotes ``record.verdict`` (see ``lose_first_claim``)."""
        if self._closing:
            raise ServiceUnavailable("server is shutting down", code="shutting_down")
        pending = _Pending(record)
        self._queue.append(pending)
        self._wake.set()
        return await pending.done

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._queue and self._closing:
                return
            if len(self._queue) < self.max_batch and not self._closing:
                await asyncio.sleep(self.flush_interval_s)  # let concurrent scans join the batch
            while self._queue:
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
                await self._flush(batch)
            if self._closing:
                return

    async def _flush(self, batch: list[_Pending]) -> None:
        try:
            conn = await self._connection()
            async with conn.begin():
                winners = await _claim_first_scans(conn, [p.record for p in batch])
                for pending in batch:
                    rec = pending.record
                    if rec.claims_first and rec.code_id not in winners.get(rec.scan_uid, ()):
                        lose_first_claim(rec)
                await conn.execute(_SCAN_INSERT, [p.record.row() for p in batch])
                followups = followup_rows(p.record for p in batch)
                if followups:
                    await conn.execute(FOLLOWUP_INSERT, followups)
        except (SQLAlchemyError, OSError) as exc:
            log.error("gateway.scanlog.flush_failed", error=str(exc), batch=len(batch))
            await self._release()
            for pending in batch:
                if not pending.done.done():
                    pending.done.set_exception(
                        ServiceUnavailable(
                            "scan could not be recorded; try again", code="scanlog_unavailable"
                        )
                    )
            return
        self.flushes += 1
        self.written += len(batch)
        for pending in batch:
            rec = pending.record
            if not pending.done.done():
                pending.done.set_result(rec.claims_first and rec.verdict == "genuine")


def lose_first_claim(record: ScanRecord) -> None:
    """Demote ``record`` in place to ``already_scanned``: it asked to be its code's first
    (genuine) scan, but the database gave that claim to another scan (an earlier batch, or
    earlier in this one; Redis had forgotten the code or was down). The record is logged
    with the demoted verdict, and the caller, which waits on ``record``, answers with
    ``record.verdict`` afterwards: the scan log is where a provisional "genuine" is decided.
    """
    record.verdict = "already_scanned"


async def _claim_first_scans(
    conn: AsyncConnection, records: Sequence[ScanRecord]
) -> dict[uuid.UUID, set[int]]:
    """Insert first-scan rows; return {scan_uid: {code_id}} for the claims that won.

    One statement: INSERT .. ON CONFLICT DO NOTHING RETURNING gives exactly the rows this
    transaction inserted (SQLAlchemy's "insertmanyvalues" turns the parameter list into
    multi-row VALUES on PostgreSQL and SQLite). Rows go in code order, so two overlapping
    batches lock the same codes in the same order and cannot deadlock.
    """
    claims: dict[int, ScanRecord] = {}
    for rec in records:
        if rec.claims_first and rec.code_id not in claims:  # earliest in the batch wins
            claims[rec.code_id] = rec
    if not claims:
        return {}
    rows = [
        {
            "code_id": rec.code_id,
            "brand_id": rec.brand_id,
            "scan_uid": rec.scan_uid,
            "scanned_at": rec.scanned_at,
            "device_hash": rec.device_hash,
            "country": rec.country,
            "region": rec.region,
            "city": rec.city,
        }
        for _, rec in sorted(claims.items())
    ]
    won = (await conn.execute(_claim_statement(conn.dialect.name), rows)).all()
    result: dict[uuid.UUID, set[int]] = {}
    for code_id, scan_uid in won:
        result.setdefault(scan_uid, set()).add(code_id)
    return result


_SCAN_INSERT = cast(Table, Scan.__table__).insert()


@functools.cache
def _claim_statement(dialect: str) -> Any:
    table = cast(Table, CodeFirstScan.__table__)
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    return ins.on_conflict_do_nothing(index_elements=["code_id"]).returning(
        table.c.code_id, table.c.scan_uid
    )
