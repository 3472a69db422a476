"""Read side of the gateway for brand managers: a code's scans, counterfeit attempts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Select, desc, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import CodeFirstScan, CounterfeitAttempt, Scan
from kernel.pagination import Page, fetch_page

__all__ = [
    "CodeScanHistory",
    "CounterfeitAttemptOut",
    "ScanRecordOut",
    "code_scan_history",
    "list_counterfeit_attempts",
]


class ScanRecordOut(msgspec.Struct):
    scan_id: uuid.UUID
    scanned_at: datetime
    verdict: str
    channel: str
    device: str  # keyed hash, enough to tell devices apart
    ip: str
    country: str | None
    region: str | None
    city: str | None
    location_source: str
    lat: float | None
    lon: float | None
    location_confidence: float | None = None
    accuracy_m: float | None = None
    distributor_id: uuid.UUID | None = None  # where the unit was shipped, when known
    diverted: bool | None = None  # outside that distributor's territory (None: unknown)


class CodeScanHistory(msgspec.Struct):
    code_id: int
    total: int
    distinct_devices: int
    first_scanned_at: datetime | None
    scans: list[ScanRecordOut]


class CounterfeitAttemptOut(msgspec.Struct):
    hour: datetime
    gtin: str
    ip: str
    reason: str
    count: int
    product_id: uuid.UUID | None
    first_seen: datetime
    last_seen: datetime


class CounterfeitAttemptPage(Page[CounterfeitAttemptOut], kw_only=True):
    """One page of counterfeit attempt entries."""

    items: list[CounterfeitAttemptOut]


async def code_scan_history(
    session: AsyncSession, brand_id: uuid.UUID, code_id: int, *, limit: int, offset: int
) -> CodeScanHistory:
    """Scans of one code, newest first; only the owning brand's rows."""
    base = select(Scan).where(Scan.code_id == code_id, Scan.brand_id == brand_id)
    total, devices = (
        await session.execute(
            select(func.count(), func.count(func.distinct(Scan.device_hash))).where(
                Scan.code_id == code_id, Scan.brand_id == brand_id
            )
        )
    ).one()
    rows = (
        await session.execute(
            base.order_by(desc(Scan.scanned_at), desc(Scan.id)).limit(limit).offset(offset)
        )
    ).scalars()
    first = await session.get(CodeFirstScan, code_id)
    return CodeScanHistory(
        code_id=code_id,
        total=int(total),
        distinct_devices=int(devices),
        first_scanned_at=first.scanned_at if first and first.brand_id == brand_id else None,
        scans=[
            ScanRecordOut(
                scan_id=s.scan_uid,
                scanned_at=s.scanned_at,
                verdict=s.verdict,
                channel=s.channel,
                device=s.device_hash[:12],
                ip=s.ip,
                country=s.country,
                region=s.region,
                city=s.city,
                location_source=s.location_source,
                lat=s.lat,
                lon=s.lon,
                location_confidence=s.location_confidence,
                accuracy_m=s.accuracy_m,
                distributor_id=s.distributor_id,
                diverted=s.diverted,
            )
            for s in rows
        ],
    )


async def list_counterfeit_attempts(
    session: AsyncSession,
    brand_id: uuid.UUID,
    *,
    gtin: str | None,
    ip: str | None,
    since: datetime | None,
    limit: int,
    offset: int,
) -> tuple[list[CounterfeitAttemptOut], int]:
    """Aggregated forged-code scans against the brand's GTINs, newest hour first."""
    query: Select[Any] = select(CounterfeitAttempt).where(CounterfeitAttempt.brand_id == brand_id)
    if gtin:
        query = query.where(CounterfeitAttempt.gtin == gtin)
    if ip:
        query = query.where(CounterfeitAttempt.ip == ip)
    if since:
        query = query.where(CounterfeitAttempt.bucket_start >= since)
    query = query.order_by(
        desc(CounterfeitAttempt.bucket_start), desc(CounterfeitAttempt.count), CounterfeitAttempt.id
    )
    rows, total = await fetch_page(session, query, limit=limit, offset=offset)
    return [
        CounterfeitAttemptOut(
            hour=a.bucket_start,
            gtin=a.gtin,
            ip=a.ip,
            reason=a.reason,
            count=a.count,
            product_id=a.product_id,
            first_seen=a.first_seen,
            last_seen=a.last_seen,
        )
        for a in rows
    ], total
