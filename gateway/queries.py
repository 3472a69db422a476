"""Read-only questions other domains ask about scans (they never query gateway tables directly).

Loyalty asks who scanned a code first; traceability and recalls ask how many units of a code
range were scanned and by whom; the event stream reads the log in id order. Each function
takes the caller's session.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import CodeFirstScan, Scan

__all__ = [
    "DeviceScan",
    "FirstScan",
    "LoggedScan",
    "device_scan_of",
    "first_scan_of",
    "scan_log_after",
]


@dataclass(frozen=True, slots=True)
class FirstScan:
    code_id: int
    brand_id: uuid.UUID
    scan_uid: uuid.UUID
    scanned_at: datetime
    device_hash: str
    country: str | None
    region: str | None


async def first_scan_of(session: AsyncSession, code_id: int) -> FirstScan | None:
    """The scan the database recorded as this code's first (genuine) one, if any."""
    row = await session.get(CodeFirstScan, code_id)
    if row is None:
        return None
    return FirstScan(
        code_id=row.code_id,
        brand_id=row.brand_id,
        scan_uid=row.scan_uid,
        scanned_at=row.scanned_at,
        device_hash=row.device_hash,
        country=row.country,
        region=row.region,
    )


@dataclass(frozen=True, slots=True)
class DeviceScan:
    """A device's latest scan of a code, and whether any scan of the code was suspicious."""

    scan_uid: uuid.UUID
    scanned_at: datetime
    verdict: str
    ip: str
    country: str | None
    region: str | None
    lat: float | None
    lon: float | None
    accuracy_m: float | None
    location_source: str
    shipment_id: uuid.UUID | None
    distributor_id: uuid.UUID | None
    code_suspicious: bool


async def device_scan_of(
    session: AsyncSession, code_id: int, device_hash: str
) -> DeviceScan | None:
    """The latest scan of ``code_id`` by ``device_hash`` (loyalty claims), None if it never
    scanned it; ``code_suspicious`` is true when any scan of the code got that verdict."""
    suspicious = (
        select(Scan.id).where(Scan.code_id == code_id, Scan.verdict == "suspicious").exists()
    )
    found = (
        await session.execute(
            select(Scan, suspicious.label("suspicious"))
            .where(Scan.code_id == code_id, Scan.device_hash == device_hash)
            .order_by(Scan.scanned_at.desc(), Scan.id.desc())
            .limit(1)
        )
    ).one_or_none()
    if found is None:
        return None
    row, code_suspicious = found
    return DeviceScan(
        scan_uid=row.scan_uid,
        scanned_at=row.scanned_at,
        verdict=row.verdict,
        ip=row.ip,
        country=row.country,
        region=row.region,
        lat=row.lat,
        lon=row.lon,
        accuracy_m=row.accuracy_m,
        location_source=row.location_source,
        shipment_id=row.shipment_id,
        distributor_id=row.distributor_id,
        code_suspicious=bool(code_suspicious),
    )


@dataclass(frozen=True, slots=True)
class LoggedScan:
    """One scan log row as the event stream publishes it (no IP, no user agent)."""

    id: int
    scan_uid: uuid.UUID
    scanned_at: datetime
    code_id: int
    brand_id: uuid.UUID
    product_id: uuid.UUID
    roll_id: uuid.UUID
    verdict: str
    device_hash: str
    country: str | None
    region: str | None
    city: str | None
    lat: float | None
    lon: float | None
    accuracy_m: float | None
    location_source: str
    location_confidence: float | None
    channel: str
    distributor_id: uuid.UUID | None
    shipment_id: uuid.UUID | None
    diverted: bool | None
    recall_id: uuid.UUID | None


_LOGGED_COLUMNS = [getattr(Scan, f.name) for f in fields(LoggedScan)]


async def scan_log_after(
    session: AsyncSession, after_id: int, *, limit: int, also_ids: Collection[int] = ()
) -> list[LoggedScan]:
    """Up to ``limit`` scans with ``id > after_id`` plus any of ``also_ids`` (ids a reader saw
    missing earlier: a later-committing transaction), in id order; a primary-key range scan."""
    newer = Scan.id > after_id
    where = or_(newer, Scan.id.in_(list(also_ids))) if also_ids else newer
    rows = await session.execute(
        select(*_LOGGED_COLUMNS).where(where).order_by(Scan.id).limit(limit + len(also_ids))
    )
    return [LoggedScan(*row) for row in rows]
