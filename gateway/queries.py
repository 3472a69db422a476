"""Read-only questions other domains ask about scans (they never query gateway tables directly).

Loyalty asks who scanned a code first; traceability and recalls ask how many units of a code
range were scanned and by whom. Each function takes the caller's session.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import CodeFirstScan

__all__ = ["FirstScan", "first_scan_of"]


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
