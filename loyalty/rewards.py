"""Prize draws, redemptions, payout orders and points expiry.

- A draw is reproducible: ``roll = int.from_bytes(sha256(f"{seed}:{claim_id}")[:8]) %
  1_000_000``; the tiers (prize id, ppm) in order are stored with it, and the first tier whose
  cumulative probability exceeds the roll wins. Stock is taken by a conditional ``UPDATE``
  (``awarded < stock``): a prize with stock 1 is won at most once; a winning roll on an empty
  tier is recorded as ``out_of_stock``.
- A redemption is idempotent by (consumer, client key), takes stock by a conditional
  ``UPDATE`` and points by a conditional debit: never oversold, never a negative balance.
- Cash prizes and items become a ``Payout`` with a deterministic order number (one per draw
  or redemption), paid later by the payout worker.
- Expiry: for every account with credits past their ``expires_at``, what is left of each such
  lot (oldest first, see ``loyalty.ledger.open_lots``) is debited once (key ``expire:<lot>``).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.db import utcnow
from kernel.errors import Conflict, NotFound
from loyalty.campaigns import get_item
from loyalty.ledger import account_entries, lock_account, open_lots, post
from loyalty.models import Claim, Consumer, Draw, LedgerEntry, Payout, Prize, Redemption

__all__ = [
    "ROLL_SPACE",
    "DrawResult",
    "RedeemResult",
    "adjust",
    "compute_roll",
    "draw_for_claim",
    "expire_points",
    "order_no_of",
    "pick_tier",
    "queue_payout",
    "redeem",
]

ROLL_SPACE = 1_000_000


def compute_roll(seed: str, claim_id: uuid.UUID) -> int:
    digest = hashlib.sha256(f"{seed}:{claim_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % ROLL_SPACE


def pick_tier(tiers: list[tuple[uuid.UUID, int]], roll: int) -> uuid.UUID | None:
    """The tier whose cumulative probability range contains ``roll``; None = no prize."""
    upper = 0
    for prize_id, ppm in tiers:
        upper += ppm
        if roll < upper:
            return prize_id
    return None


@dataclass(frozen=True, slots=True)
class DrawResult:
    draw: Draw
    prize: Prize | None


async def draw_for_claim(session: AsyncSession, claim: Claim) -> DrawResult | None:
    """Run the claim's prize draw (None when its campaign has no prizes)."""
    assert claim.campaign_id is not None
    prizes = list(
        (
            await session.execute(
                select(Prize)
                .where(Prize.campaign_id == claim.campaign_id)
                .order_by(Prize.created_at, Prize.id)
            )
        ).scalars()
    )
    if not prizes:
        return None
    seed = secrets.token_hex(16)
    roll = compute_roll(seed, claim.id)
    tiers = [(p.id, p.probability_ppm) for p in prizes]
    chosen = pick_tier(tiers, roll)
    outcome, won = "lost", None
    if chosen is not None:
        taken = await session.execute(
            update(Prize)
            .where(Prize.id == chosen, Prize.awarded < Prize.stock)
            .values(awarded=Prize.awarded + 1)
            .execution_options(synchronize_session=False)
        )
        if getattr(taken, "rowcount", 0) == 1:
            outcome, won = "won", next(p for p in prizes if p.id == chosen)
        else:
            outcome = "out_of_stock"
    draw = Draw(
        claim_id=claim.id,
        brand_id=claim.brand_id,
        campaign_id=claim.campaign_id,
        consumer_id=claim.consumer_id,
        seed=seed,
        roll=roll,
        tiers=[{"prize_id": str(pid), "probability_ppm": ppm} for pid, ppm in tiers],
        prize_id=won.id if won else None,
        outcome=outcome,
        created_at=utcnow(),
    )
    session.add(draw)
    await session.flush()
    if won is not None and won.kind == "red_envelope" and won.amount_cents:
        await queue_payout(
            session,
            brand_id=claim.brand_id,
            consumer_id=claim.consumer_id,
            amount_cents=won.amount_cents,
            source_type="draw",
            source_id=draw.id,
        )
    return DrawResult(draw, won)


def order_no_of(source_type: str, source_id: uuid.UUID) -> str:
    """One order number per source, so a retried step can never pay twice."""
    return f"SG{source_type[0].upper()}{source_id.hex}"


async def queue_payout(
    session: AsyncSession,
    *,
    brand_id: uuid.UUID,
    consumer_id: uuid.UUID,
    amount_cents: int,
    source_type: str,
    source_id: uuid.UUID,
) -> Payout:
    consumer = await session.get(Consumer, consumer_id)
    payout = Payout(
        brand_id=brand_id,
        consumer_id=consumer_id,
        order_no=order_no_of(source_type, source_id),
        openid=consumer.openid if consumer else None,
        amount_cents=amount_cents,
        source_type=source_type,
        source_id=source_id,
        status="queued",
        attempts=0,
        next_attempt_at=utcnow(),
        created_at=utcnow(),
    )
    session.add(payout)
    await session.flush()
    return payout


@dataclass(frozen=True, slots=True)
class RedeemResult:
    redemption: Redemption
    created: bool
    payout: Payout | None


async def redeem(
    session: AsyncSession, consumer_id: uuid.UUID, item_id: uuid.UUID, client_key: str
) -> RedeemResult:
    """Redeem one catalogue item; the same client key returns the first result again."""
    existing = await _redemption_by_key(session, consumer_id, client_key)
    if existing is not None:
        return await _replay(session, existing, item_id)
    item = await get_item(session, None, item_id)
    if not item.active:
        raise Conflict("this item is no longer offered", code="item_inactive", field="item_id")
    redemption = Redemption(
        brand_id=item.brand_id,
        consumer_id=consumer_id,
        item_id=item.id,
        client_key=client_key,
        cost_points=item.cost_points,
        created_at=utcnow(),
    )
    session.add(redemption)
    try:
        await session.flush()
    except IntegrityError:  # the same key raced in: answer with the one that won
        await session.rollback()  # nothing else was written yet in this transaction
        winner = await _redemption_by_key(session, consumer_id, client_key)
        assert winner is not None
        return await _replay(session, winner, item_id)
    await lock_account(session, consumer_id, item.brand_id)
    taken = await session.execute(
        update(type(item))
        .where(type(item).id == item.id, type(item).redeemed < type(item).stock)
        .values(redeemed=type(item).redeemed + 1)
        .execution_options(synchronize_session=False)
    )
    if getattr(taken, "rowcount", 0) != 1:
        raise Conflict("this item is out of stock", code="out_of_stock", field="item_id")
    paid = await post(
        session,
        consumer_id=consumer_id,
        brand_id=item.brand_id,
        delta=-item.cost_points,
        reason="redemption",
        ref_type="redemption",
        ref_id=redemption.id,
        idem_key=f"redeem:{redemption.id}",
    )
    if not paid:
        raise Conflict(
            f"not enough points (this item costs {item.cost_points})",
            code="insufficient_points",
            field="item_id",
        )
    payout = None
    if item.kind == "red_envelope" and item.amount_cents:
        payout = await queue_payout(
            session,
            brand_id=item.brand_id,
            consumer_id=consumer_id,
            amount_cents=item.amount_cents,
            source_type="redemption",
            source_id=redemption.id,
        )
    return RedeemResult(redemption, True, payout)


async def _redemption_by_key(
    session: AsyncSession, consumer_id: uuid.UUID, client_key: str
) -> Redemption | None:
    return (
        await session.execute(
            select(Redemption).where(
                Redemption.consumer_id == consumer_id, Redemption.client_key == client_key
            )
        )
    ).scalar_one_or_none()


async def _replay(
    session: AsyncSession, redemption: Redemption, item_id: uuid.UUID
) -> RedeemResult:
    if redemption.item_id != item_id:
        raise Conflict(
            "this client_key was used for another item",
            code="client_key_reused",
            field="client_key",
        )
    payout = (
        await session.execute(select(Payout).where(Payout.source_id == redemption.id))
    ).scalar_one_or_none()
    return RedeemResult(redemption, False, payout)


async def expire_points(
    session: AsyncSession, brand_id: uuid.UUID, now: datetime
) -> tuple[int, int]:
    """Debit what is left of every lot of ``brand_id`` that expired by ``now``; returns
    (accounts touched, points expired). Safe to run concurrently and repeatedly."""
    accounts = (
        await session.execute(
            select(LedgerEntry.consumer_id)
            .where(
                LedgerEntry.brand_id == brand_id,
                LedgerEntry.delta > 0,
                LedgerEntry.expires_at.is_not(None),
                LedgerEntry.expires_at <= now,
            )
            .distinct()
        )
    ).scalars()
    touched = expired = 0
    for consumer_id in sorted(set(accounts)):
        await lock_account(session, consumer_id, brand_id)
        lots = open_lots(await account_entries(session, consumer_id, brand_id))
        due = [lot for lot in lots if lot.expires_at is not None and _le(lot.expires_at, now)]
        for lot in due:
            await post(
                session,
                consumer_id=consumer_id,
                brand_id=brand_id,
                delta=-lot.remaining,
                reason="expiry",
                ref_type="ledger",
                ref_id=lot.entry_id,
                idem_key=f"expire:{lot.entry_id}",
            )
            expired += lot.remaining
        touched += bool(due)
    return touched, expired


async def adjust(
    session: AsyncSession,
    *,
    brand_id: uuid.UUID,
    consumer_id: uuid.UUID,
    points: int,
    note: str,
    client_key: str,
    expires_at: datetime | None,
) -> LedgerEntry:
    """A manual correction (goodwill credit or debit) by a brand admin, idempotent by
    ``client_key``; a debit never takes the balance below zero."""
    key = f"adjust:{brand_id}:{client_key}"
    existing = (
        await session.execute(select(LedgerEntry).where(LedgerEntry.idem_key == key))
    ).scalar_one_or_none()
    if existing is not None:
        if existing.consumer_id != consumer_id or existing.delta != points:
            raise Conflict(
                "this client_key was used for another adjustment",
                code="client_key_reused",
                field="client_key",
            )
        return existing
    if await session.get(Consumer, consumer_id) is None:
        raise NotFound("consumer not found", code="consumer_not_found")
    await lock_account(session, consumer_id, brand_id)
    ok = await post(
        session,
        consumer_id=consumer_id,
        brand_id=brand_id,
        delta=points,
        reason="adjustment",
        ref_type="admin",
        ref_id=client_key,
        idem_key=key,
        expires_at=expires_at if points > 0 else None,
        note=note,
    )
    if not ok:
        raise Conflict("the balance is smaller than this debit", code="insufficient_points")
    entry = (
        await session.execute(select(LedgerEntry).where(LedgerEntry.idem_key == key))
    ).scalar_one()
    return entry


def _le(a: datetime, b: datetime) -> bool:
    # SQLite hands back naive UTC datetimes in some paths; compare as UTC either way.
    return a.replace(tzinfo=None) <= b.replace(tzinfo=None)
