"""Read-only channel questions of recalls and traces (issue 6), for admin_api.

Who holds the units of some code ranges now — the current-position projection (a unit's own
position, its case's, its case's pallet's: the newest wins, as ``destination`` resolves a
single code), evaluated piecewise over ranges, so 10 million codes cost a handful of
index range reads, never a read per code.
"""

from __future__ import annotations

import itertools
import uuid
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from channel_control.destination import Position
from channel_control.positions import (
    container_position,
    newest,
    open_aggregations,
    unit_position_rows,
)
from channel_control.shipping_models import Container
from channel_control.units import Piece, coalesce, pieces

__all__ = ["units_by_holder"]


def _value_at(parts: list[Piece[Position]] | list[Piece[uuid.UUID]], at: int) -> object:
    i = bisect_right([p.start for p in parts], at) - 1
    return parts[i].value if i >= 0 and parts[i].end > at else None


async def units_by_holder(
    session: AsyncSession, brand_id: uuid.UUID, code_ranges: Iterable[tuple[int, int]]
) -> dict[uuid.UUID | None, int]:
    """Units of the half-open code_id ranges by current holder: a distributor id, or None for
    units shipped back to the brand. Units never shipped are not counted."""
    totals: dict[uuid.UUID | None, int] = defaultdict(int)
    case_positions: dict[uuid.UUID, Position | None] = {}
    for lo, hi in coalesce(code_ranges):
        own = pieces(await unit_position_rows(session, brand_id, lo, hi), lo, hi)
        cases = pieces(
            [
                (max(int(a.child_start or lo), lo), min(int(a.child_end or hi), hi), a.parent_id)
                for a in await open_aggregations(session, brand_id, lo, hi)
            ],
            lo,
            hi,
        )
        points = sorted({lo, hi, *(p.start for p in own), *(p.start for p in cases)})
        for start, end in itertools.pairwise(points):
            position = _value_at(own, start)
            case_id = _value_at(cases, start)
            if isinstance(case_id, uuid.UUID):
                if case_id not in case_positions:
                    case = await session.get(Container, case_id)
                    case_positions[case_id] = (
                        await container_position(session, case) if case else None
                    )
                position = newest(
                    position if isinstance(position, Position) else None,
                    case_positions[case_id],
                )
            if isinstance(position, Position):
                totals[position.distributor_id] += end - start
    return dict(totals)
