"""Read-only scan questions of traceability and recalls (issue 6): the ``ScanSource`` of
``anticounterfeit.trace.ports`` (this module is that implementation; value types from there).

Kept beside ``gateway.queries`` (same contract: the caller's session, read only) so the two
domains' helpers do not edit one file. A range is a half-open code_id interval ``[lo, hi)``
(``anticounterfeit.trace.code_ranges.CodeRange``); every query is an index range scan
(``code_first_scans``' primary key, ``scans``' ``(code_id, scanned_at)``), never one query per
code.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.trace.ports import HitGroup, RangeScanCounts, RecallHits, ScanRow
from gateway.models import CodeFirstScan, Scan

__all__ = [
    "HitGroup",
    "RangeScanCounts",
    "RecallHits",
    "ScanRow",
    "recall_hits",
    "scan_counts_in_ranges",
    "scan_groups_in_ranges",
    "scanners_in_ranges",
    "scans_in_ranges",
]


_UNION_CHUNK = 200  # SQLite allows 500 terms in one compound SELECT


def _in_ranges(column: Any, ranges: Sequence[tuple[int, int]]) -> Any:
    return or_(*(and_(column >= lo, column < hi) for lo, hi in ranges))


async def scan_counts_in_ranges(
    session: AsyncSession, ranges: Sequence[tuple[int, int]]
) -> list[RangeScanCounts]:
    """Per range: units scanned and scans logged (one UNION ALL query per 200 ranges)."""
    out: list[RangeScanCounts] = []
    for i in range(0, len(ranges), _UNION_CHUNK):
        chunk = ranges[i : i + _UNION_CHUNK]
        units = await _count_per_range(session, CodeFirstScan.code_id, chunk)
        scans = await _count_per_range(session, Scan.code_id, chunk)
        out.extend(RangeScanCounts(u, s) for u, s in zip(units, scans, strict=True))
    return out


async def _count_per_range(
    session: AsyncSession, column: Any, ranges: Sequence[tuple[int, int]]
) -> list[int]:
    parts = [
        select(literal(i).label("i"), func.count().label("n")).where(column >= lo, column < hi)
        for i, (lo, hi) in enumerate(ranges)
    ]
    statement = parts[0] if len(parts) == 1 else union_all(*parts)
    counts = [0] * len(ranges)
    for i, n in (await session.execute(statement)).all():
        counts[int(i)] = int(n)
    return counts


async def scans_in_ranges(
    session: AsyncSession,
    brand_id: uuid.UUID,
    ranges: Sequence[tuple[int, int]],
    *,
    limit: int,
    offset: int,
) -> list[ScanRow]:
    """Logged scans of codes in ``ranges``, newest first (a page)."""
    if not ranges:
        return []
    rows = await session.execute(
        select(Scan)
        .where(Scan.brand_id == brand_id, _in_ranges(Scan.code_id, ranges))
        .order_by(Scan.scanned_at.desc(), Scan.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [
        ScanRow(
            s.scan_uid,
            s.scanned_at,
            s.code_id,
            s.verdict,
            s.device_hash,
            s.country,
            s.region,
            s.city,
            s.distributor_id,
            s.recall_id,
        )
        for s in rows.scalars()
    ]


async def scanners_in_ranges(
    session: AsyncSession,
    brand_id: uuid.UUID,
    ranges: Sequence[tuple[int, int]],
    *,
    after: str | None,
    limit: int,
) -> list[str]:
    """Distinct device hashes that scanned a code in ``ranges``, ascending, > ``after``."""
    if not ranges:
        return []
    query = select(Scan.device_hash).where(
        Scan.brand_id == brand_id, _in_ranges(Scan.code_id, ranges)
    )
    if after is not None:
        query = query.where(Scan.device_hash > after)
    rows = await session.execute(
        query.group_by(Scan.device_hash).order_by(Scan.device_hash).limit(limit)
    )
    return list(rows.scalars())


async def recall_hits(
    session: AsyncSession, brand_id: uuid.UUID, recall_id: uuid.UUID
) -> RecallHits:
    """Scans answered with this recall's notice: totals and per region / per distributor
    ("how many recalled units are still in the market, and where")."""
    base = (Scan.brand_id == brand_id, Scan.recall_id == recall_id)
    units = func.count(func.distinct(Scan.code_id))
    total = (await session.execute(select(func.count(), units).where(*base))).one()

    async def grouped(column: Any) -> list[HitGroup]:
        rows = await session.execute(
            select(column, func.count(), units).where(*base).group_by(column)
        )
        groups = [
            HitGroup(None if key is None else str(key), int(n), int(u)) for key, n, u in rows.all()
        ]
        return sorted(groups, key=lambda g: (-g.units, g.key or ""))

    return RecallHits(
        scans=int(total[0]),
        units=int(total[1]),
        by_region=await grouped(Scan.region),
        by_distributor=await grouped(Scan.distributor_id),
    )


async def scan_groups_in_ranges(
    session: AsyncSession, brand_id: uuid.UUID, ranges: Sequence[tuple[int, int]]
) -> list[HitGroup]:
    """Scans of codes in ``ranges`` per distributor the unit had been shipped to (the scan
    path's channel context; None: not shipped or unknown), most units first."""
    if not ranges:
        return []
    rows = await session.execute(
        select(Scan.distributor_id, func.count(), func.count(func.distinct(Scan.code_id)))
        .where(Scan.brand_id == brand_id, _in_ranges(Scan.code_id, ranges))
        .group_by(Scan.distributor_id)
    )
    groups = [HitGroup(None if k is None else str(k), int(n), int(u)) for k, n, u in rows.all()]
    return sorted(groups, key=lambda g: (-g.units, g.key or ""))
