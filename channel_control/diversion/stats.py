"""Diversion statistics for dashboards, from channel_control's own hourly tallies.

``diversion_tallies`` holds, per (brand, distributor, hour, observed area), the located
consumer scans of that distributor's units and how many of them were diverted. Rates, the map
and the time series are sums over it: they never read the gateway's scan log, and cost grows
with distributors × hours × areas, not with scans.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import desc, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from channel_control.distributors.models import Distributor
from channel_control.diversion.models import DiversionTally
from channel_control.diversion.schemas import MapCell, RateOut, SeriesPoint
from kernel.errors import InvalidInput

__all__ = ["MAX_RANGE_DAYS", "diversion_map", "diversion_rates", "diversion_series", "time_range"]

MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 30


def time_range(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """[since, until): default the last 30 days; at most a year; since before until."""
    end = until or datetime.now(UTC)
    start = since or end - timedelta(days=DEFAULT_RANGE_DAYS)
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("times need a time zone (e.g. Z)", code="invalid_time", field="since")
    if start >= end:
        raise InvalidInput("since must be before until", code="invalid_range", field="since")
    if end - start > timedelta(days=MAX_RANGE_DAYS):
        raise InvalidInput(
            f"at most {MAX_RANGE_DAYS} days at a time", code="range_too_long", field="since"
        )
    return start, end


def _rate(located: int, diverted: int) -> float:
    return round(diverted / located, 6) if located else 0.0


async def diversion_rates(
    session: AsyncSession, brand_id: uuid.UUID, since: datetime, until: datetime
) -> list[RateOut]:
    """Per distributor: located scans of its units, how many were diverted, the rate."""
    located = func.sum(DiversionTally.located)
    diverted = func.sum(DiversionTally.diverted)
    rows = (
        await session.execute(
            select(DiversionTally.distributor_id, Distributor.name, located, diverted)
            .outerjoin(Distributor, Distributor.id == DiversionTally.distributor_id)
            .where(
                DiversionTally.brand_id == brand_id,
                DiversionTally.bucket_start >= since,
                DiversionTally.bucket_start < until,
            )
            .group_by(DiversionTally.distributor_id, Distributor.name)
            .order_by(desc(diverted), DiversionTally.distributor_id)
        )
    ).all()
    out = [
        RateOut(
            distributor_id=distributor_id,
            distributor_name=name,
            located_scans=int(n_located or 0),
            diverted_scans=int(n_diverted or 0),
            rate=_rate(int(n_located or 0), int(n_diverted or 0)),
        )
        for distributor_id, name, n_located, n_diverted in rows
    ]
    out.sort(key=lambda r: (-r.rate, -r.diverted_scans, str(r.distributor_id)))
    return out


async def diversion_map(
    session: AsyncSession,
    brand_id: uuid.UUID,
    since: datetime,
    until: datetime,
    *,
    distributor_id: uuid.UUID | None,
    diverted_only: bool,
) -> list[MapCell]:
    """Counts per (distributor, observed area): a map layer."""
    located = func.sum(DiversionTally.located)
    diverted = func.sum(DiversionTally.diverted)
    query = (
        select(DiversionTally.distributor_id, DiversionTally.area, located, diverted)
        .where(
            DiversionTally.brand_id == brand_id,
            DiversionTally.bucket_start >= since,
            DiversionTally.bucket_start < until,
        )
        .group_by(DiversionTally.distributor_id, DiversionTally.area)
        .order_by(DiversionTally.distributor_id, DiversionTally.area)
    )
    if distributor_id is not None:
        query = query.where(DiversionTally.distributor_id == distributor_id)
    if diverted_only:
        query = query.having(diverted > 0)
    rows = (await session.execute(query)).all()
    return [
        MapCell(
            distributor_id=d,
            area=area,
            located_scans=int(n_located or 0),
            diverted_scans=int(n_diverted or 0),
        )
        for d, area, n_located, n_diverted in rows
    ]


async def diversion_series(
    session: AsyncSession,
    brand_id: uuid.UUID,
    since: datetime,
    until: datetime,
    *,
    bucket: str,
    distributor_id: uuid.UUID | None,
    area: str | None,
) -> list[SeriesPoint]:
    """Located and diverted scans per hour or per day (UTC), oldest first; empty buckets
    are left out."""
    query = (
        select(
            DiversionTally.bucket_start,
            func.sum(DiversionTally.located),
            func.sum(DiversionTally.diverted),
        )
        .where(
            DiversionTally.brand_id == brand_id,
            DiversionTally.bucket_start >= since,
            DiversionTally.bucket_start < until,
        )
        .group_by(DiversionTally.bucket_start)
        .order_by(DiversionTally.bucket_start)
    )
    if distributor_id is not None:
        query = query.where(DiversionTally.distributor_id == distributor_id)
    if area is not None:
        query = query.where(DiversionTally.area == area)
    sums: dict[datetime, list[int]] = defaultdict(lambda: [0, 0])
    for hour, n_located, n_diverted in (await session.execute(query)).all():
        start = hour if hour.tzinfo else hour.replace(tzinfo=UTC)
        if bucket == "day":  # folded here: date truncation differs between SQLite and PostgreSQL
            start = start.replace(hour=0)
        sums[start][0] += int(n_located or 0)
        sums[start][1] += int(n_diverted or 0)
    return [
        SeriesPoint(bucket_start=start, located_scans=lo, diverted_scans=di, rate=_rate(lo, di))
        for start, (lo, di) in sorted(sums.items())
    ]
