"""Code ranges: the codes of rolls compiled per batch, with exact lifecycle counts.

A :class:`CodeRange` is a window of one roll whose codes are all bound to one batch; every
function here costs a fixed number of queries whatever the number of codes.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.codes.metadata import compile_segments
from anticounterfeit.codes.models import CodeRangeEvent, CodeRoll

__all__ = ["CodeRange", "code_ranges_in", "code_ranges_of_batches", "code_ranges_of_rolls"]


@dataclass(frozen=True, slots=True)
class CodeRange:
    """Codes ``[seq_start, seq_end)`` of a roll, all bound to ``batch_id``.

    Their code ids are ``[lo_code_id, hi_code_id)`` (``kid << 40 | first_index + seq``).
    ``active`` / ``void`` count the codes in that lifecycle state (the rest are inactive).
    """

    roll_id: uuid.UUID
    kid: int
    first_index: int
    product_id: uuid.UUID
    batch_id: uuid.UUID | None
    seq_start: int
    seq_end: int
    active: int
    void: int
    issued_at: datetime

    @property
    def count(self) -> int:
        return self.seq_end - self.seq_start

    @property
    def lo_code_id(self) -> int:
        return (self.kid << 40) | (self.first_index + self.seq_start)

    @property
    def hi_code_id(self) -> int:
        return (self.kid << 40) | (self.first_index + self.seq_end)


async def code_ranges_of_batches(
    session: AsyncSession, brand_id: uuid.UUID, batch_ids: Iterable[uuid.UUID]
) -> list[CodeRange]:
    """The code ranges bound to any of ``batch_ids``, per roll, ordered by roll and seq.

    Two queries whatever the number of codes: the rolls that may hold such codes (bound at
    issue or by a later ``bind_batch`` event) and their range events.
    """
    wanted = set(batch_ids)
    if not wanted:
        return []
    rebound = select(CodeRangeEvent.roll_id).where(CodeRangeEvent.batch_id.in_(wanted))
    rolls = list(
        (
            await session.execute(
                select(CodeRoll)
                .where(
                    CodeRoll.brand_id == brand_id,
                    or_(CodeRoll.batch_id.in_(wanted), CodeRoll.id.in_(rebound)),
                )
                .order_by(CodeRoll.kid, CodeRoll.first_index)
            )
        ).scalars()
    )
    return await code_ranges_of_rolls(session, [(r, 0, r.count) for r in rolls], wanted)


async def code_ranges_of_rolls(
    session: AsyncSession,
    windows: list[tuple[CodeRoll, int, int]],
    batch_ids: set[uuid.UUID] | None,
) -> list[CodeRange]:
    """Compile the windows ``[start, end)`` of rolls into ranges per batch (only codes bound
    to ``batch_ids`` unless None), with exact active / void counts."""
    if not windows:
        return []
    rolls = list({roll.id: roll for roll, _, _ in windows}.values())
    events: dict[uuid.UUID, list[tuple[int, int, str, uuid.UUID | None, str | None]]] = defaultdict(
        list
    )
    rows = await session.execute(
        select(
            CodeRangeEvent.roll_id,
            CodeRangeEvent.seq_start,
            CodeRangeEvent.seq_end,
            CodeRangeEvent.action,
            CodeRangeEvent.batch_id,
            CodeRangeEvent.reason,
        )
        .where(CodeRangeEvent.roll_id.in_([r.id for r in rolls]))
        .order_by(CodeRangeEvent.id)
    )
    for roll_id, seq_start, seq_end, action, batch_id, reason in rows.all():
        events[roll_id].append((seq_start, seq_end, action, batch_id, reason))
    out: list[CodeRange] = []
    compiled = {
        roll.id: compile_segments(roll.count, roll.batch_id, events.get(roll.id, []))
        for roll in rolls
    }
    for roll, window_start, window_end in windows:
        segments = compiled[roll.id]
        ends = [s.start for s in segments[1:]] + [roll.count]
        current: list[int] | None = None  # [start, end, active, void]
        current_batch: uuid.UUID | None = None
        for segment, seg_end in zip(segments, ends, strict=True):
            start, end = max(segment.start, window_start), min(seg_end, window_end)
            if start >= end:
                continue
            keep = batch_ids is None or segment.batch_id in batch_ids
            if current is not None and (not keep or segment.batch_id != current_batch):
                out.append(_range(roll, current_batch, current))
                current = None
            if not keep:
                continue
            size = end - start
            if current is None:
                current, current_batch = [start, end, 0, 0], segment.batch_id
            current[1] = end
            if segment.status == "active":
                current[2] += size
            elif segment.status == "void":
                current[3] += size
        if current is not None:
            out.append(_range(roll, current_batch, current))
    return out


async def code_ranges_in(
    session: AsyncSession, brand_id: uuid.UUID, code_ids: Iterable[tuple[int, int]]
) -> list[CodeRange]:
    """The brand's codes in the code_id intervals ``[lo, hi)`` (e.g. a case's contents), as
    ranges per roll and batch (one roll query per interval, then one events query)."""
    windows: list[tuple[CodeRoll, int, int]] = []
    for lo, hi in code_ids:
        kid, lo_index = lo >> 40, lo & ((1 << 40) - 1)
        hi_index = lo_index + (hi - lo)
        rolls = (
            await session.execute(
                select(CodeRoll).where(
                    CodeRoll.brand_id == brand_id,
                    CodeRoll.kid == kid,
                    CodeRoll.first_index < hi_index,
                    CodeRoll.first_index + CodeRoll.count > lo_index,
                )
            )
        ).scalars()
        for roll in rolls:
            start = max(lo_index, roll.first_index) - roll.first_index
            end = min(hi_index, roll.first_index + roll.count) - roll.first_index
            windows.append((roll, start, end))
    return await code_ranges_of_rolls(session, windows, None)


def _range(roll: CodeRoll, batch_id: uuid.UUID | None, values: list[int]) -> CodeRange:
    return CodeRange(
        roll_id=roll.id,
        kid=roll.kid,
        first_index=roll.first_index,
        product_id=roll.product_id,
        batch_id=batch_id,
        seq_start=values[0],
        seq_end=values[1],
        active=values[2],
        void=values[3],
        issued_at=roll.created_at,
    )
