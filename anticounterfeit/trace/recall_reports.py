"""A recall's affected set, its audiences and its outbox events.

The recall definition lives in ``anticounterfeit.trace.recalls``; here it meets the scan log,
distributor confirmations, shipments and claims, all through ``TraceSources``
(``anticounterfeit.trace.ports``). Everything is computed over code *ranges*: a recall
of 10 million codes is a handful of index range scans.

Public for the notifications worker (``admin_api.notifications``):
``recall_distributor_ids`` and ``recall_consumer_targets``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.catalogue.models import Batch, Product
from anticounterfeit.codes.identity import split_code_id
from anticounterfeit.codes.models import CodeRoll
from anticounterfeit.trace import genealogy, recalls
from anticounterfeit.trace.code_ranges import CodeRange
from anticounterfeit.trace.models import Recall
from anticounterfeit.trace.ports import RecallHits, TraceSources
from anticounterfeit.trace.recalls import DistributorProgress
from kernel import outbox
from kernel.intervals import coalesce

__all__ = [
    "AffectedBatch",
    "AffectedSet",
    "ConsumerTarget",
    "affected_set",
    "claimer_openids",
    "coalesce_code_ids",
    "emit_recall_event",
    "recall_code_ranges",
    "recall_consumer_targets",
    "recall_distributor_ids",
    "units_claimed",
]

DEVICE_KEY = "d:"
OPENID_KEY = "o:"


def coalesce_code_ids(ranges: Sequence[CodeRange]) -> list[tuple[int, int]]:
    """The code_id intervals of ``ranges``, sorted and merged where they touch or overlap
    (consecutive rolls of one key are contiguous: a whole batch is often one interval)."""
    return coalesce((r.lo_code_id, r.hi_code_id) for r in ranges)


async def recall_code_ranges(session: AsyncSession, recall: Recall) -> list[CodeRange]:
    """Every code range the recall covers: its batches' (material lots expanded) and its
    explicit roll ranges, without double counting where they overlap."""
    batch_ids = await recalls.recall_batch_ids(session, recall)
    batch_ranges = await genealogy.code_ranges_of_batches(session, recall.brand_id, batch_ids)
    explicit = await recalls.recall_range_scopes(session, recall)
    if not explicit:
        return batch_ranges
    windows: dict[uuid.UUID, list[tuple[int, int]]] = defaultdict(list)
    for r in batch_ranges:
        windows[r.roll_id].append((r.seq_start, r.seq_end))
    for roll_id, start, end in explicit:
        windows[roll_id].append((start, end))
    rolls = {
        roll.id: roll
        for roll in (
            await session.execute(
                select(CodeRoll).where(
                    CodeRoll.brand_id == recall.brand_id, CodeRoll.id.in_(list(windows))
                )
            )
        ).scalars()
    }
    merged: list[tuple[CodeRoll, int, int]] = []
    for roll_id in sorted(windows, key=lambda r: (rolls[r].kid, rolls[r].first_index)):
        current: list[int] | None = None
        for start, end in sorted(windows[roll_id]):
            if current is not None and start <= current[1]:
                current[1] = max(current[1], end)
                continue
            if current is not None:
                merged.append((rolls[roll_id], current[0], current[1]))
            current = [start, end]
        if current is not None:
            merged.append((rolls[roll_id], current[0], current[1]))
    return await genealogy.code_ranges_of_rolls(session, merged, None)


def _index_span(lo: int, hi: int) -> tuple[int, int, int]:
    kid, first = split_code_id(lo)
    _, last = split_code_id(hi - 1)
    return kid, first, last


async def units_claimed(
    session: AsyncSession,
    sources: TraceSources,
    brand_id: uuid.UUID,
    ranges: Sequence[tuple[int, int]],
) -> int:
    """Codes of ``ranges`` claimed by consumers (loyalty; a claim is unique per code)."""
    spans = [_index_span(lo, hi) for lo, hi in ranges]
    return await sources.claims.units_claimed(session, brand_id, spans)


async def claimer_openids(
    session: AsyncSession,
    sources: TraceSources,
    brand_id: uuid.UUID,
    ranges: Sequence[tuple[int, int]],
) -> list[str]:
    """Sorted distinct WeChat openids of consumers who claimed a code of ``ranges``."""
    spans = [_index_span(lo, hi) for lo, hi in ranges]
    return await sources.claims.claimer_openids(session, brand_id, spans)


# ---------------------------------------------------------------------------------------------
# The affected set
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AffectedBatch:
    batch_id: uuid.UUID | None
    lot: str | None
    product_id: uuid.UUID
    gtin: str
    units: int


@dataclass(frozen=True, slots=True)
class AffectedSet:
    units_issued: int
    units_active: int
    units_void: int
    code_ranges: int
    batches: list[AffectedBatch]
    units_scanned: int  # distinct affected codes with a consumer's first scan
    scans: int
    units_claimed: int  # affected codes claimed for points (loyalty)
    hits: RecallHits  # scans answered with this recall's notice (per region / distributor)
    progress: list[DistributorProgress]
    held_by_distributor: dict[uuid.UUID, int]  # shipped units each distributor holds now
    returned_to_brand: int  # shipped units back with the brand

    @property
    def quarantined(self) -> int:
        return sum(p.quarantined for p in self.progress)

    @property
    def returned(self) -> int:
        return sum(p.returned for p in self.progress)


async def affected_set(session: AsyncSession, sources: TraceSources, recall: Recall) -> AffectedSet:
    """Units issued / active / void per batch, units scanned, recall hits, confirmations."""
    ranges = await recall_code_ranges(session, recall)
    per_batch: dict[tuple[uuid.UUID | None, uuid.UUID], int] = defaultdict(int)
    for r in ranges:
        per_batch[(r.batch_id, r.product_id)] += r.count
    lots = {
        b.id: b.lot
        for b in (
            await session.execute(
                select(Batch).where(Batch.id.in_([b for b, _ in per_batch if b is not None]))
            )
        ).scalars()
    }
    gtins = {
        p.id: p.gtin
        for p in (
            await session.execute(select(Product).where(Product.id.in_({p for _, p in per_batch})))
        ).scalars()
    }
    batches = sorted(
        (
            AffectedBatch(b, lots.get(b) if b else None, p, gtins[p], units)
            for (b, p), units in per_batch.items()
        ),
        key=lambda a: (a.gtin, a.lot or ""),
    )
    coalesced = coalesce_code_ids(ranges)
    counts = await sources.scans.scan_counts_in_ranges(session, coalesced)
    progress = await recalls.recall_progress(session, recall.id)
    holders = await sources.channel.units_by_holder(session, recall.brand_id, coalesced)
    return AffectedSet(
        units_issued=sum(r.count for r in ranges),
        units_active=sum(r.active for r in ranges),
        units_void=sum(r.void for r in ranges),
        code_ranges=len(ranges),
        batches=batches,
        units_scanned=sum(c.units_scanned for c in counts),
        scans=sum(c.scans for c in counts),
        units_claimed=await units_claimed(session, sources, recall.brand_id, coalesced),
        hits=await sources.scans.recall_hits(session, recall.brand_id, recall.id),
        progress=sorted(progress.values(), key=lambda p: str(p.distributor_id)),
        held_by_distributor={d: n for d, n in holders.items() if d is not None},
        returned_to_brand=holders.get(None, 0),
    )


# ---------------------------------------------------------------------------------------------
# Audiences (called by the notifications worker)
# ---------------------------------------------------------------------------------------------
async def _affected_distributors(
    session: AsyncSession, sources: TraceSources, recall: Recall
) -> list[uuid.UUID]:
    """Distributors holding affected units now, those whose units were recall hits, and
    those that confirmed quantities."""
    ranges = coalesce_code_ids(await recall_code_ranges(session, recall))
    holders = await sources.channel.units_by_holder(session, recall.brand_id, ranges)
    ids = {d for d in holders if d is not None}
    hits = await sources.scans.recall_hits(session, recall.brand_id, recall.id)
    ids.update(uuid.UUID(g.key) for g in hits.by_distributor if g.key is not None)
    ids.update(await recalls.recall_progress(session, recall.id))
    return sorted(ids)


async def recall_distributor_ids(
    session: AsyncSession,
    sources: TraceSources,
    brand_id: uuid.UUID,
    recall_id: uuid.UUID,
    *,
    after: uuid.UUID | None,
    limit: int,
) -> list[uuid.UUID]:
    """Distributors concerned by the recall, ordered by id, ids greater than ``after``:
    those holding affected units now (shipments, through cases and pallets), those whose
    units were scanned as recall hits and those that confirmed quantities."""
    recall = await recalls.get_recall(session, brand_id, recall_id)
    ids = await _affected_distributors(session, sources, recall)
    return [i for i in ids if after is None or i > after][:limit]


@dataclass(frozen=True, slots=True)
class ConsumerTarget:
    """A consumer to notify. ``key`` orders targets and is the cursor of the next page."""

    key: str
    device_hash: str | None
    wechat_openid: str | None


async def recall_consumer_targets(
    session: AsyncSession,
    sources: TraceSources,
    brand_id: uuid.UUID,
    recall_id: uuid.UUID,
    *,
    after: str | None,
    limit: int,
) -> list[ConsumerTarget]:
    """Everyone who scanned an affected code (keyed device hash, for the in-app inbox), then
    everyone who claimed one with a WeChat identity (openid, for subscribe messages), in
    ``key`` order after the cursor ``after`` ("d:<hash>" sorts before "o:<openid>")."""
    recall = await recalls.get_recall(session, brand_id, recall_id)
    ranges = coalesce_code_ids(await recall_code_ranges(session, recall))
    targets: list[ConsumerTarget] = []
    if after is None or after.startswith(DEVICE_KEY):
        hashes = await sources.scans.scanners_in_ranges(
            session,
            brand_id,
            ranges,
            after=after[len(DEVICE_KEY) :] if after else None,
            limit=limit,
        )
        targets = [ConsumerTarget(DEVICE_KEY + h, h, None) for h in hashes]
        after = None
    if len(targets) < limit:
        openids = await claimer_openids(session, sources, brand_id, ranges)
        floor = after[len(OPENID_KEY) :] if after and after.startswith(OPENID_KEY) else None
        targets += [
            ConsumerTarget(OPENID_KEY + o, None, o) for o in openids if floor is None or o > floor
        ][: limit - len(targets)]
    return targets


# ---------------------------------------------------------------------------------------------
# Outbox
# ---------------------------------------------------------------------------------------------
async def emit_recall_event(
    session: AsyncSession, sources: TraceSources, recall: Recall, event_type: str
) -> None:
    """Write ``recall.started`` / ``recall.updated`` / ``recall.closed`` in the caller's
    transaction (the one that made the change)."""
    distributor_ids = await _affected_distributors(session, sources, recall)
    payload: dict[str, Any] = {
        "recall_id": str(recall.id),
        "brand_id": str(recall.brand_id),
        "status": recall.status,
        "severity": recall.severity,
        "reason": recall.reason,
        "consumer_instructions": recall.consumer_instructions,
        "distributor_instructions": recall.distributor_instructions,
        "distributor_ids": [str(d) for d in distributor_ids],
        "version": recall.version,
    }
    outbox.emit(
        session,
        brand_id=recall.brand_id,
        event_type=event_type,
        subject_type="recall",
        subject_id=recall.id,
        payload=payload,
    )
