"""Scan follow-ups: the durable list of logged scans whose channel consequences are pending.

The scan log inserts a follow-up row for every located scan of a shipped unit (``diverted``
is not None) in the same transaction as the scan row, so it is durable before the answer.
Channel control deletes the row in the transaction that writes the scan's diversion signal
and tally: ``claim_followups`` returns the scans this transaction took, and only those are
counted (a batch whose COMMIT landed but whose reply was lost takes nothing the second time;
two writers never both take a scan). ``claim_stale_followups`` takes the ones no process
wrote in time (killed, or dropped from memory during a database outage) with what the scan
log holds of them, to rebuild their consequences from.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.models import Scan, ScanFollowup

__all__ = [
    "FOLLOWUP_INSERT",
    "FollowedScan",
    "claim_followups",
    "claim_stale_followups",
    "followup_rows",
]

CLAIM_CHUNK = 1000  # ids per statement: within every backend's parameter limit

_TABLE = cast(Table, ScanFollowup.__table__)
_SCANS = cast(Table, Scan.__table__)
FOLLOWUP_INSERT = _TABLE.insert()


@dataclass(frozen=True, slots=True)
class FollowedScan:
    """What the scan log holds of a scan whose consequences are to be rebuilt."""

    scan_uid: uuid.UUID
    scanned_at: datetime
    brand_id: uuid.UUID
    code_id: int
    roll_id: uuid.UUID
    product_id: uuid.UUID
    distributor_id: uuid.UUID
    shipment_id: uuid.UUID
    diverted: bool
    country: str | None
    region: str | None
    city: str | None
    lat: float | None
    lon: float | None
    location_source: str
    location_confidence: float | None


def followup_rows(records: Iterable[Any]) -> list[dict[str, Any]]:
    """Follow-up rows of the ``gateway.scanlog.ScanRecord``s that have channel consequences."""
    return [
        {"scan_uid": r.scan_uid, "scanned_at": r.scanned_at}
        for r in records
        if r.diverted is not None
    ]


async def claim_followups(conn: AsyncConnection, scan_uids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Delete the follow-ups of ``scan_uids``; return those this transaction deleted."""
    taken: set[uuid.UUID] = set()
    for start in range(0, len(scan_uids), CLAIM_CHUNK):
        chunk = scan_uids[start : start + CLAIM_CHUNK]
        statement = _TABLE.delete().where(_TABLE.c.scan_uid.in_(chunk)).returning(_TABLE.c.scan_uid)
        taken.update((await conn.execute(statement)).scalars())
    return taken


_FIELDS = [f.name for f in fields(FollowedScan)]


async def claim_stale_followups(
    conn: AsyncConnection, before: datetime, limit: int
) -> list[FollowedScan]:
    """Take up to ``limit`` follow-ups of scans logged before ``before``, oldest first, with
    their scan rows."""
    oldest = (
        select(_TABLE.c.scan_uid)
        .where(_TABLE.c.scanned_at < before)
        .order_by(_TABLE.c.scanned_at)
        .limit(limit)
    )
    statement = _TABLE.delete().where(_TABLE.c.scan_uid.in_(oldest)).returning(_TABLE.c.scan_uid)
    uids = list((await conn.execute(statement)).scalars())
    scans: list[FollowedScan] = []
    columns = [_SCANS.c[name] for name in _FIELDS]
    for start in range(0, len(uids), CLAIM_CHUNK):
        chunk = uids[start : start + CLAIM_CHUNK]
        rows = await conn.execute(select(*columns).where(_SCANS.c.scan_uid.in_(chunk)))
        scans.extend(FollowedScan(*row) for row in rows)
    scans.sort(key=lambda s: s.scanned_at)
    return scans
