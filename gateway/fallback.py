"""The scan path's database fallback: a code's scan stats and impossible travel from the
scan log, when Redis is down or has lost the code's state (rare)."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.geo import DEFAULT_GPS_ACCURACY_M, Locator, Position, ScanLocation, impossible_travel
from gateway.models import CodeFirstScan, Scan

__all__ = [
    "COUNTED_VERDICTS",
    "ScanStats",
    "first_scan_exists",
    "first_scan_watermark",
    "stats_from_db",
    "travel_from_db",
]

COUNTED_VERDICTS = ("genuine", "already_scanned", "suspicious")
TRAVEL_HISTORY = 50  # located scans the database fallback checks for impossible travel
MAX_REPAIRED_DEVICES = 1_000  # enough to judge cloning; a clone seen by more is suspicious anyway
WATERMARK_ROWS = 1_000  # the latest scan log rows by id: group commits land nearly in time order


@dataclass(frozen=True, slots=True)
class ScanStats:
    count: int
    distinct_devices: int
    first_scanned_at: datetime | None
    first_place: str | None
    devices: tuple[str, ...] = ()  # device hashes, only when read from the database


async def stats_from_db(
    session_factory: async_sessionmaker[AsyncSession], code_id: int
) -> ScanStats:
    async with session_factory() as session:
        first = await session.get(CodeFirstScan, code_id)
        row = (
            await session.execute(
                select(func.count(), func.count(func.distinct(Scan.device_hash))).where(
                    Scan.code_id == code_id, Scan.verdict.in_(COUNTED_VERDICTS)
                )
            )
        ).one()
        devices = (
            await session.execute(
                select(Scan.device_hash)
                .where(Scan.code_id == code_id, Scan.verdict.in_(COUNTED_VERDICTS))
                .distinct()
                .limit(MAX_REPAIRED_DEVICES)
            )
        ).scalars()
        device_hashes = tuple(devices)
    return ScanStats(
        count=int(row[0]),
        distinct_devices=int(row[1]),
        first_scanned_at=first.scanned_at if first else None,
        first_place=(first.region or first.country) if first else None,
        devices=device_hashes,
    )


async def first_scan_watermark(
    session_factory: async_sessionmaker[AsyncSession],
) -> datetime | None:
    """The time of the latest scan the database holds (None: no scan yet). Read through the
    primary key's index, not a scan of the table."""
    async with session_factory() as session:
        latest = select(Scan.scanned_at).order_by(Scan.id.desc()).limit(WATERMARK_ROWS).subquery()
        found: datetime | None = await session.scalar(select(func.max(latest.c.scanned_at)))
    return found


async def first_scan_exists(
    session_factory: async_sessionmaker[AsyncSession], code_id: int
) -> bool:
    """Does the database hold this code's first scan (the truth behind Redis's "scanned")?"""
    async with session_factory() as session:
        found = await session.scalar(
            select(CodeFirstScan.code_id).where(CodeFirstScan.code_id == code_id)
        )
    return found is not None


async def travel_from_db(
    session_factory: async_sessionmaker[AsyncSession],
    locator: Locator,
    code_id: int,
    scan_uid: uuid.UUID,
    now: datetime,
    location: ScanLocation,
    *,
    max_kmh: float,
) -> bool:
    """Impossible travel when Redis cannot tell, from the scan log alone: a scan already
    judged suspicious, or any two consecutive located scans among the code's latest
    ``TRAVEL_HISTORY`` and this one too far apart. (IP-located scans are located again
    from their stored IP: the log keeps no IP position.)"""
    async with session_factory() as session:
        convicted = await session.scalar(
            select(Scan.id).where(Scan.code_id == code_id, Scan.verdict == "suspicious").limit(1)
        )
        if convicted is not None:
            return True
        rows = (
            await session.execute(
                select(Scan.scanned_at, Scan.lat, Scan.lon, Scan.accuracy_m, Scan.ip)
                .where(
                    Scan.code_id == code_id,
                    Scan.scan_uid != scan_uid,
                    Scan.location_source != "none",
                )
                .order_by(Scan.scanned_at.desc())
                .limit(TRAVEL_HISTORY)
            )
        ).all()
    trail: list[tuple[int, Position]] = []
    for row in reversed(rows):
        if row.lat is not None and row.lon is not None:
            position = Position(row.lat, row.lon, row.accuracy_m or DEFAULT_GPS_ACCURACY_M)
        else:
            found = locator.locate(row.ip, None).position
            if found is None:
                continue
            position = found
        trail.append((int(row.scanned_at.timestamp() * 1000), position))
    if location.position is not None:
        trail.append((int(now.timestamp() * 1000), location.position))
    return any(
        impossible_travel(p1, t1, p2, t2, max_kmh=max_kmh)
        for (t1, p1), (t2, p2) in itertools.pairwise(trail)
    )
