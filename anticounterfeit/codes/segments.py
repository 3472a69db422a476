"""A roll's lifecycle as disjoint segments: range events folded oldest first, then the
active recalls overlaid. Pure functions; ``anticounterfeit.codes.metadata`` caches the result
for the scan path (and re-exports these names)."""

from __future__ import annotations

import uuid
from bisect import bisect_right

import msgspec

from anticounterfeit.codes.models import RangeAction

__all__ = ["Segment", "compile_segments", "overlay_recalls"]


class Segment(msgspec.Struct, frozen=True, array_like=True):
    start: int  # first seq of the segment; it runs to the next segment's start
    status: str
    batch_id: uuid.UUID | None
    void_reason: str | None
    recall_id: uuid.UUID | None = None  # the active recall covering these codes


def compile_segments(
    count: int,
    default_batch: uuid.UUID | None,
    events: list[tuple[int, int, str, uuid.UUID | None, str | None]],
) -> list[Segment]:
    """Fold range events (seq_start, seq_end, action, batch_id, reason), oldest first,
    into disjoint segments. Void is final: a later activation does not revive a voided code.
    """
    starts: list[int] = [0]
    states: list[tuple[str, uuid.UUID | None, str | None]] = [("inactive", default_batch, None)]

    def split(at: int) -> int:
        i = bisect_right(starts, at) - 1
        if starts[i] != at:
            starts.insert(i + 1, at)
            states.insert(i + 1, states[i])
            return i + 1
        return i

    for seq_start, seq_end, action, batch_id, reason in events:
        lo = max(0, seq_start)
        hi = min(count, seq_end)
        if lo >= hi:
            continue
        first = split(lo)
        last = split(hi) if hi < count else len(starts)
        for i in range(first, last):
            status, batch, void_reason = states[i]
            if action == RangeAction.ACTIVATE and status != "void":
                states[i] = ("active", batch, void_reason)
            elif action == RangeAction.VOID:
                states[i] = ("void", batch, reason)
            elif action == RangeAction.BIND_BATCH:
                states[i] = (status, batch_id, void_reason)
    segments: list[Segment] = []
    for start, (status, batch, reason) in zip(starts, states, strict=True):
        if segments and (segments[-1].status, segments[-1].batch_id, segments[-1].void_reason) == (
            status,
            batch,
            reason,
        ):
            continue
        segments.append(Segment(start, status, batch, reason))
    return segments


def overlay_recalls(
    segments: list[Segment],
    count: int,
    batch_recalls: dict[uuid.UUID, uuid.UUID],
    range_recalls: list[tuple[int, int, uuid.UUID]],
    rank: dict[uuid.UUID, int],
) -> list[Segment]:
    """Mark segments with the recall covering them: through their batch (``batch_recalls``:
    batch id -> recall id) or an explicit range ``[start, end)`` of the roll. Where several
    recalls cover a code, the lowest ``rank`` (most severe, then earliest) wins."""
    if not batch_recalls and not range_recalls:
        return segments
    starts = [s.start for s in segments]
    points = set(starts)
    for lo, hi, _ in range_recalls:
        points.update(p for p in (lo, hi) if 0 < p < count)
    out: list[Segment] = []
    for point in sorted(points):
        base = segments[bisect_right(starts, point) - 1]
        candidates = [r for lo, hi, r in range_recalls if lo <= point < hi]
        if base.batch_id is not None and base.batch_id in batch_recalls:
            candidates.append(batch_recalls[base.batch_id])
        recall = min(candidates, key=lambda r: rank[r]) if candidates else None
        if out and (out[-1].status, out[-1].batch_id, out[-1].void_reason, out[-1].recall_id) == (
            base.status,
            base.batch_id,
            base.void_reason,
            recall,
        ):
            continue
        out.append(Segment(point, base.status, base.batch_id, base.void_reason, recall))
    return out
