"""Destinations cached by code *interval*, so first scans of shipped goods hit the cache.

``DestinationResolver`` caches per code, and every genuine first scan is a code never seen
before: each one paid a database lookup, which cost the scan path three quarters of its
throughput (``channel_overhead_ratio`` 0.25, see docs/benchmarks.md). But a unit's
destination depends only on which projection rows hold it — its own ``unit_positions`` range
and its open ``aggregations`` row (hence its case and pallet) — and those rows are ranges. The
answer is therefore the same for every code of the interval where both are fixed:

    own:  [code_start, code_end) of the row holding the code, or the gap between two rows
    case: [child_start, child_end) of the open aggregation row holding it, or the gap

and one lookup serves every later code of the intersection (a 92,000-unit shipped range with
no cases: one lookup). The cache is per brand, a sorted list of disjoint intervals searched
with ``bisect``, dropped whenever the resolver's brand generation moves (every shipment and
aggregation write bumps it, in this worker and, over Redis pub/sub, in the others) and, like
the per-code cache, stale after ``ttl_s`` at most.
"""

from __future__ import annotations

import bisect
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, CompoundSelect, cast, func, null, select, union_all
from sqlalchemy.sql.expression import BindParameter, bindparam, literal

from anticounterfeit.codes.identity import code_id_of
from channel_control.logistics.destination import Destination, DestinationResolver
from channel_control.logistics.models import Aggregation, UnitPosition
from kernel.runtime import Runtime

__all__ = ["IntervalDestinationResolver", "holding_interval"]

KID_SPAN = 1 << 40  # code ids of one key: kid · 2^40 + index; no range crosses a key


def _bounds_statement() -> CompoundSelect[Any]:
    code: BindParameter[int] = bindparam("code_id")
    brand: BindParameter[uuid.UUID] = bindparam("brand_id")
    open_rows = (Aggregation.brand_id == brand, Aggregation.unpacked_at.is_(None))
    own_prev = (
        select(literal("own_prev").label("what"), UnitPosition.code_start, UnitPosition.code_end)
        .where(UnitPosition.brand_id == brand, UnitPosition.code_start <= code)
        .order_by(UnitPosition.code_start.desc())
        .limit(1)
    )
    own_next = select(
        literal("own_next").label("what"),
        func.min(UnitPosition.code_start),
        cast(null(), BigInteger),
    ).where(UnitPosition.brand_id == brand, UnitPosition.code_start > code)
    case_prev = (
        select(literal("case_prev").label("what"), Aggregation.child_start, Aggregation.child_end)
        .where(*open_rows, Aggregation.child_start <= code)
        .order_by(Aggregation.child_start.desc())
        .limit(1)
    )
    case_next = select(
        literal("case_next").label("what"),
        func.min(Aggregation.child_start),
        cast(null(), BigInteger),
    ).where(*open_rows, Aggregation.child_start > code)
    return union_all(*(q.subquery().select() for q in (own_prev, own_next, case_prev, case_next)))


_BOUNDS = _bounds_statement()


def holding_interval(
    code_id: int,
    own_prev: tuple[int, int] | None,
    own_next: int | None,
    case_prev: tuple[int, int] | None,
    case_next: int | None,
) -> tuple[int, int]:
    """[lo, hi) around ``code_id`` on which the same own row (or gap) and the same open
    aggregation row (or gap) hold every code — hence the same destination."""
    lo = code_id - code_id % KID_SPAN
    hi = lo + KID_SPAN
    for prev, nxt in ((own_prev, own_next), (case_prev, case_next)):
        if prev is not None and prev[0] <= code_id < prev[1]:
            lo, hi = max(lo, prev[0]), min(hi, prev[1])
            continue
        if prev is not None:
            lo = max(lo, prev[1])  # the gap after the previous row
        if nxt is not None:
            hi = min(hi, nxt)
    return lo, hi


@dataclass(slots=True)
class _Intervals:
    generation: int
    starts: list[int] = field(default_factory=list)
    entries: list[tuple[int, int, float, Destination | None]] = field(default_factory=list)


class IntervalDestinationResolver(DestinationResolver):
    """``DestinationResolver`` with an interval cache in front (same answers, same
    invalidation)."""

    def __init__(self, runtime: Runtime, *, max_intervals: int = 100_000) -> None:
        super().__init__(runtime)
        self.max_intervals = max_intervals
        self._intervals: dict[uuid.UUID, _Intervals] = {}
        self.interval_hits = 0

    async def resolve(self, brand_id: uuid.UUID, kid: int, index: int) -> Destination | None:
        code_id = code_id_of(kid, index)
        generation = self.generation(brand_id)
        now = time.monotonic()
        cached = self._intervals.get(brand_id)
        if cached is None or cached.generation != generation:
            cached = self._intervals[brand_id] = _Intervals(generation)
        i = bisect.bisect_right(cached.starts, code_id) - 1
        if i >= 0:
            lo, hi, expires, answer = cached.entries[i]
            if code_id < hi and expires > now:
                self.interval_hits += 1
                return answer
        async with self.rt.engine.connect() as conn:
            rows = (await conn.execute(_BOUNDS, {"brand_id": brand_id, "code_id": code_id})).all()
        found = {row.what: row for row in rows}
        lo, hi = holding_interval(
            code_id,
            (found["own_prev"][1], found["own_prev"][2]) if "own_prev" in found else None,
            found["own_next"][1] if "own_next" in found else None,
            (found["case_prev"][1], found["case_prev"][2]) if "case_prev" in found else None,
            found["case_next"][1] if "case_next" in found else None,
        )
        answer = await super().resolve(brand_id, kid, index)
        if self.generation(brand_id) != generation:
            return answer  # a write committed meanwhile: the interval may be stale already
        if len(cached.entries) >= self.max_intervals:
            cached.starts.clear()
            cached.entries.clear()
        j = bisect.bisect_left(cached.starts, lo)
        if j > 0 and cached.entries[j - 1][1] > lo:  # overlaps (expired, or a missed write)
            j -= 1
        while j < len(cached.starts) and cached.starts[j] < hi:
            del cached.starts[j], cached.entries[j]
        cached.starts.insert(j, lo)
        cached.entries.insert(j, (lo, hi, now + self.ttl_s, answer))
        return answer
