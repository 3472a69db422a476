"""Roll issuance: allocate a contiguous index range under the brand's active key and record
the roll (one ``code_rolls`` row for ``count`` codes, never a row per code).

``issue_roll`` flushes, never commits; ``issue_roll_and_commit`` is the unit-of-work helper
shared by the HTTP handler and the CLI. Idempotency follows ``kernel.idempotency.run_once``:
the work runs in a SAVEPOINT, so a request that loses a race on its key undoes only its own
allocation and replays the winner's roll. Callers invalidate the metadata cache after commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.catalogue.models import Batch, BrandCodeKey, Product
from anticounterfeit.codes.format import INDEX_LIMIT, Keyring
from anticounterfeit.codes.models import CodeRangeEvent, CodeRoll, RangeAction
from anticounterfeit.gs1.gtin import normalize_gtin
from kernel.audit import record_audit
from kernel.auth import Principal
from kernel.db import utcnow
from kernel.errors import Conflict, InvalidInput
from kernel.idempotency import run_once

__all__ = [
    "MAX_ROLL_COUNT",
    "IssueRequest",
    "IssueResult",
    "issue_roll",
    "issue_roll_and_commit",
]

MAX_ROLL_COUNT = 100_000_000


@dataclass(frozen=True, slots=True)
class IssueRequest:
    """What a caller asks for; exactly one of product_id / gtin, at most one of batch_id / lot."""

    count: int
    product_id: uuid.UUID | None = None
    gtin: str | None = None
    batch_id: uuid.UUID | None = None
    lot: str | None = None
    activate: bool = False
    note: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class IssueResult:
    roll: CodeRoll
    created: bool  # False: an idempotent replay returned the roll made earlier


async def _product_for(session: AsyncSession, brand_id: uuid.UUID, req: IssueRequest) -> Product:
    if (req.product_id is None) == (req.gtin is None):
        raise InvalidInput(
            "give exactly one of product_id and gtin", code="product_required", field="product_id"
        )
    if req.product_id is not None:
        product = await session.get(Product, req.product_id)
        if product is None or product.brand_id != brand_id:
            raise InvalidInput("unknown product", code="unknown_product", field="product_id")
        return product
    gtin14 = normalize_gtin(req.gtin or "", field="gtin")
    product = await session.scalar(
        select(Product).where(Product.gtin == gtin14, Product.brand_id == brand_id)
    )
    if product is None:
        raise InvalidInput(
            "no product of this brand has this GTIN", code="unknown_product", field="gtin"
        )
    return product


async def _batch_of_product(
    session: AsyncSession,
    product: Product,
    *,
    batch_id: uuid.UUID | None = None,
    lot: str | None = None,
) -> Batch | None:
    if batch_id is not None and lot is not None:
        raise InvalidInput("give batch_id or lot, not both", code="batch_ambiguous", field="lot")
    if batch_id is not None:
        batch = await session.get(Batch, batch_id)
        if batch is None or batch.brand_id != product.brand_id or batch.product_id != product.id:
            raise InvalidInput(
                "unknown batch for this product", code="unknown_batch", field="batch_id"
            )
        return batch
    if lot is not None:
        batch = await session.scalar(
            select(Batch).where(
                Batch.brand_id == product.brand_id, Batch.product_id == product.id, Batch.lot == lot
            )
        )
        if batch is None:
            raise InvalidInput("unknown lot for this product", code="unknown_batch", field="lot")
        return batch
    return None


async def _issued_active(session: AsyncSession, roll: CodeRoll) -> bool:
    """Whether the roll was activated as part of its issuance (same timestamp, whole roll)."""
    found = await session.scalar(
        select(CodeRangeEvent.id).where(
            CodeRangeEvent.roll_id == roll.id,
            CodeRangeEvent.action == RangeAction.ACTIVATE,
            CodeRangeEvent.seq_start == 0,
            CodeRangeEvent.seq_end == roll.count,
            CodeRangeEvent.created_at == roll.created_at,
        )
    )
    return found is not None


async def issue_roll(
    session: AsyncSession,
    keyring: Keyring,
    actor: Principal | None,
    brand_id: uuid.UUID,
    req: IssueRequest,
) -> IssueResult:
    """Allocate ``count`` contiguous indexes from the brand's active key and record the roll.

    Idempotent per ``(brand, idempotency_key)``: the same request replays the existing roll,
    a different one is a 409 ``idempotency_key_reused``.
    """
    if not 1 <= req.count <= MAX_ROLL_COUNT:
        raise InvalidInput(
            f"count must be between 1 and {MAX_ROLL_COUNT}", code="invalid_count", field="count"
        )
    product = await _product_for(session, brand_id, req)
    batch = await _batch_of_product(session, product, batch_id=req.batch_id, lot=req.lot)
    batch_id = batch.id if batch else None

    async def find() -> CodeRoll | None:
        return await session.scalar(
            select(CodeRoll).where(
                CodeRoll.brand_id == brand_id, CodeRoll.idempotency_key == req.idempotency_key
            )
        )

    async def matches(existing: CodeRoll) -> bool:
        return (
            existing.product_id == product.id
            and existing.count == req.count
            and existing.batch_id == batch_id
            and existing.note == req.note
            and await _issued_active(session, existing) == req.activate
        )

    async def work() -> CodeRoll:
        kid, first_index = await _allocate(session, keyring, brand_id, req.count)
        return await _record_roll(
            session, actor, brand_id, product, batch_id, kid, first_index, req
        )

    roll, replayed = await run_once(
        session, req.idempotency_key, find=find, matches=matches, work=work
    )
    return IssueResult(roll, created=not replayed)


async def _allocate(
    session: AsyncSession, keyring: Keyring, brand_id: uuid.UUID, count: int
) -> tuple[int, int]:
    """``(kid, first_index)`` of ``count`` fresh indexes under the brand's active key."""
    # Atomic allocation: the row lock (PostgreSQL) / write lock (SQLite) serialises issuers,
    # and the WHERE clause refuses to run past the 40-bit index space.
    allocated = (
        await session.execute(
            update(BrandCodeKey)
            .where(
                BrandCodeKey.brand_id == brand_id,
                BrandCodeKey.active.is_(True),
                BrandCodeKey.next_index + count <= INDEX_LIMIT,
            )
            .values(next_index=BrandCodeKey.next_index + count)
            .returning(BrandCodeKey.kid, BrandCodeKey.next_index)
            .execution_options(synchronize_session=False)
        )
    ).first()
    if allocated is None:
        has_key = await session.scalar(
            select(BrandCodeKey.kid).where(
                BrandCodeKey.brand_id == brand_id, BrandCodeKey.active.is_(True)
            )
        )
        if has_key is None:
            raise Conflict("the brand has no active code key", code="no_code_key")
        raise Conflict(
            "the brand's code key has too few indexes left for this roll; rotate the key",
            code="code_space_exhausted",
            field="count",
        )
    kid, next_index = int(allocated[0]), int(allocated[1])
    if kid not in keyring:
        raise Conflict(
            f"code key {kid} is not configured on this server", code="code_key_unavailable"
        )
    return kid, next_index - count


async def _record_roll(
    session: AsyncSession,
    actor: Principal | None,
    brand_id: uuid.UUID,
    product: Product,
    batch_id: uuid.UUID | None,
    kid: int,
    first_index: int,
    req: IssueRequest,
) -> CodeRoll:
    """Insert the roll (and its activation event with ``activate``) and the audit entry."""
    now = utcnow()
    actor_id = actor.subject if actor else None
    roll = CodeRoll(
        id=uuid.uuid4(),
        brand_id=brand_id,
        product_id=product.id,
        kid=kid,
        first_index=first_index,
        count=req.count,
        batch_id=batch_id,
        idempotency_key=req.idempotency_key,
        note=req.note,
        created_at=now,
        created_by=actor_id,
    )
    session.add(roll)
    # Flushed alone: the models declare no relationships, so the unit of work would not
    # order the event after its roll; and this insert is where an idempotency race shows.
    await session.flush()
    if req.activate:
        session.add(
            CodeRangeEvent(
                roll_id=roll.id,
                seq_start=0,
                seq_end=req.count,
                action=RangeAction.ACTIVATE,
                created_at=now,
                created_by=actor_id,
            )
        )
    record_audit(
        session,
        actor,
        "roll.issued",
        target_type="code_roll",
        target_id=roll.id,
        brand_id=brand_id,
        details={
            "product_id": str(product.id),
            "count": req.count,
            "batch_id": str(batch_id) if batch_id else None,
            "activate": req.activate,
        },
    )
    await session.flush()
    return roll


async def issue_roll_and_commit(
    session: AsyncSession,
    keyring: Keyring,
    actor: Principal | None,
    brand_id: uuid.UUID,
    req: IssueRequest,
) -> IssueResult:
    """``issue_roll`` as its own unit of work (commits).

    Two concurrent requests with one idempotency key: the loser's insert violates the unique
    constraint inside its SAVEPOINT; that undoes its index allocation and it replays the
    winner's roll (``run_once``).
    """
    result = await issue_roll(session, keyring, actor, brand_id, req)
    await session.commit()
    return result
