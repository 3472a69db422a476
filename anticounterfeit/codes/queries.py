"""Reads of code rolls: a roll by id, pages of rolls, a roll's compiled lifecycle, admin code
lookup, and the catalogue facts (GTINs, lots) that roll answers show.

Nothing here writes. The write side (issuance, export plans, lifecycle events) is
``anticounterfeit.codes.services``. ``CodeRoll``, the entity these reads return, is
published here for type annotations.
"""

from __future__ import annotations

import uuid
from bisect import bisect_right
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.catalogue.models import Batch, Brand, Product
from anticounterfeit.codes.format import Keyring, verify_code
from anticounterfeit.codes.metadata import BatchFacts, ProductFacts
from anticounterfeit.codes.models import CodeRangeEvent, CodeRoll
from anticounterfeit.codes.segments import Segment, compile_segments
from anticounterfeit.gs1.gtin import normalize_gtin
from kernel.errors import InvalidInput, NotFound

__all__ = [
    "CodeLookup",
    "CodeRoll",
    "RollState",
    "batch_lots",
    "get_roll",
    "list_rolls",
    "lookup_code",
    "product_gtins",
    "product_of_gtin",
    "roll_state",
]


async def product_of_gtin(session: AsyncSession, gtin: str) -> tuple[Product, Brand]:
    """The product with this GTIN (any brand: GTINs are globally unique) and its brand."""
    gtin14 = normalize_gtin(gtin, field="product")
    row = (
        await session.execute(
            select(Product, Brand)
            .join(Brand, Brand.id == Product.brand_id)
            .where(Product.gtin == gtin14)
        )
    ).first()
    if row is None:
        raise NotFound(f"no product with GTIN {gtin14}", code="unknown_product", field="product")
    return row[0], row[1]


async def get_roll(session: AsyncSession, brand_id: uuid.UUID, roll_id: uuid.UUID) -> CodeRoll:
    """The roll if it belongs to the brand; 404 otherwise (no existence leak across brands)."""
    roll = await session.get(CodeRoll, roll_id)
    if roll is None or roll.brand_id != brand_id:
        raise NotFound("unknown roll", code="unknown_roll")
    return roll


async def list_rolls(
    session: AsyncSession,
    brand_id: uuid.UUID,
    *,
    product_id: uuid.UUID | None = None,
    batch_id: uuid.UUID | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[CodeRoll], int]:
    """A page of the brand's rolls, newest first, and the total matching the filters."""
    conditions: list[ColumnElement[bool]] = [CodeRoll.brand_id == brand_id]
    if product_id is not None:
        conditions.append(CodeRoll.product_id == product_id)
    if batch_id is not None:
        conditions.append(CodeRoll.batch_id == batch_id)
    where = and_(*conditions)
    total = await session.scalar(select(func.count()).select_from(CodeRoll).where(where))
    rows = (
        await session.execute(
            select(CodeRoll)
            .where(where)
            .order_by(CodeRoll.created_at.desc(), CodeRoll.id)
            .limit(limit)
            .offset(offset)
        )
    ).scalars()
    return list(rows), int(total or 0)


async def product_gtins(session: AsyncSession, product_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not product_ids:
        return {}
    rows = await session.execute(
        select(Product.id, Product.gtin).where(Product.id.in_(product_ids))
    )
    return {r[0]: r[1] for r in rows}


async def batch_lots(session: AsyncSession, batch_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not batch_ids:
        return {}
    rows = await session.execute(select(Batch.id, Batch.lot).where(Batch.id.in_(batch_ids)))
    return {r[0]: r[1] for r in rows}


@dataclass(frozen=True, slots=True)
class RollState:
    """A roll's compiled lifecycle: disjoint segments and the number of codes per status."""

    roll: CodeRoll
    segments: list[Segment]
    counts: dict[str, int]

    def segment_at(self, seq: int) -> Segment:
        starts = [s.start for s in self.segments]
        return self.segments[bisect_right(starts, seq) - 1]

    def segment_end(self, i: int) -> int:
        return self.segments[i + 1].start if i + 1 < len(self.segments) else self.roll.count


async def roll_state(session: AsyncSession, roll: CodeRoll) -> RollState:
    """Fold the roll's range events (from the database, this transaction's view)."""
    events = (
        await session.execute(
            select(
                CodeRangeEvent.seq_start,
                CodeRangeEvent.seq_end,
                CodeRangeEvent.action,
                CodeRangeEvent.batch_id,
                CodeRangeEvent.reason,
            )
            .where(CodeRangeEvent.roll_id == roll.id)
            .order_by(CodeRangeEvent.id)
        )
    ).all()
    segments = compile_segments(
        roll.count, roll.batch_id, [(e[0], e[1], e[2], e[3], e[4]) for e in events]
    )
    counts = {"inactive": 0, "active": 0, "void": 0}
    for i, seg in enumerate(segments):
        end = segments[i + 1].start if i + 1 < len(segments) else roll.count
        counts[seg.status] = counts.get(seg.status, 0) + end - seg.start
    return RollState(roll, segments, counts)


@dataclass(frozen=True, slots=True)
class CodeLookup:
    gtin: str
    code: str
    roll_id: uuid.UUID
    seq: int
    status: str
    void_reason: str | None
    batch: BatchFacts | None
    product: ProductFacts


async def lookup_code(
    session: AsyncSession, keyring: Keyring, brand_id: uuid.UUID, gtin: str, code: str
) -> CodeLookup:
    """A code's roll, position and current state as the brand sees it (fresh from the DB)."""
    unknown = NotFound("unknown code", code="unknown_code")
    try:
        gtin14 = normalize_gtin(gtin)
    except InvalidInput:
        raise unknown from None
    decoded = verify_code(keyring, code, gtin14)
    if decoded is None:
        raise unknown
    roll = await session.scalar(
        select(CodeRoll)
        .where(CodeRoll.kid == decoded.kid, CodeRoll.first_index <= decoded.index)
        .order_by(CodeRoll.first_index.desc())
        .limit(1)
    )
    if roll is None or roll.brand_id != brand_id or decoded.index >= roll.first_index + roll.count:
        raise unknown
    product = await session.get(Product, roll.product_id)
    assert product is not None  # foreign key
    if product.gtin != gtin14:
        raise unknown
    seq = decoded.index - roll.first_index
    state = await roll_state(session, roll)
    segment = state.segment_at(seq)
    batch_facts = None
    if segment.batch_id is not None:
        batch = await session.get(Batch, segment.batch_id)
        if batch is not None:
            batch_facts = BatchFacts(
                id=batch.id,
                lot=batch.lot,
                production_date=batch.production_date.isoformat(),
                expiry_date=batch.expiry_date.isoformat() if batch.expiry_date else None,
                line=batch.line,
            )
    return CodeLookup(
        gtin=gtin14,
        code=code.strip().upper(),
        roll_id=roll.id,
        seq=seq,
        status=segment.status,
        void_reason=segment.void_reason,
        batch=batch_facts,
        product=ProductFacts(
            id=product.id,
            gtin=product.gtin,
            name=product.name,
            description=product.description,
            image_url=product.image_url,
            pin_length=product.pin_length,
        ),
    )
