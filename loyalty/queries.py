"""Read-only loyalty questions: a consumer's own views, brand admin lookups and statistics,
and the claimers of a code range (for recalls: whom to tell).

Every function is scoped: by the consumer (consumer views) or by the brand (admin views).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.codes import code_id_of
from kernel.errors import InvalidInput, NotFound
from kernel.pagination import fetch_page
from loyalty.models import (
    Account,
    Campaign,
    Claim,
    Consumer,
    Draw,
    LedgerEntry,
    Payout,
    Prize,
    Redemption,
)

__all__ = [
    "Claimer",
    "ConsumerSummary",
    "DailyStats",
    "accounts_of",
    "brand_consumers",
    "budgets_left",
    "claimers_in_range",
    "claims_of",
    "daily_stats",
    "draws_of",
    "get_draw",
    "ledger_page",
    "payouts_page",
    "prize_names",
    "redemptions_of",
    "review_queue",
    "won_draws",
]


@dataclass(frozen=True, slots=True)
class Claimer:
    consumer_id: uuid.UUID
    openid: str | None
    code_id: int
    claimed_at: datetime


async def claimers_in_range(
    session: AsyncSession,
    *,
    brand_id: uuid.UUID,
    kid: int,
    first_index: int,
    last_index: int,
    limit: int = 500,
    offset: int = 0,
) -> tuple[list[Claimer], int]:
    """Consumers who claimed codes ``kid:first_index..last_index`` (inclusive) of ``brand_id``
    (credited or held, not rejected), with their openid when bound to WeChat; in code order.
    Returns (page, total)."""
    if last_index < first_index:
        raise InvalidInput("last_index is before first_index", field="last_index")
    where = and_(
        Claim.brand_id == brand_id,
        Claim.code_id >= code_id_of(kid, first_index),
        Claim.code_id <= code_id_of(kid, last_index),
        Claim.status != "rejected",
    )
    total = int(await session.scalar(select(func.count()).select_from(Claim).where(where)) or 0)
    rows = await session.execute(
        select(Claim.consumer_id, Consumer.openid, Claim.code_id, Claim.created_at)
        .join(Consumer, Consumer.id == Claim.consumer_id)
        .where(where)
        .order_by(Claim.code_id)
        .limit(limit)
        .offset(offset)
    )
    return [Claimer(r[0], r[1], int(r[2]), r[3]) for r in rows], total


# ---------------------------------------------------------------------------- consumer views
async def accounts_of(session: AsyncSession, consumer_id: uuid.UUID) -> list[Account]:
    rows = await session.execute(
        select(Account).where(Account.consumer_id == consumer_id).order_by(Account.brand_id)
    )
    return list(rows.scalars())


async def ledger_page(
    session: AsyncSession,
    *,
    brand_id: uuid.UUID | None,
    consumer_id: uuid.UUID | None,
    reason: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[LedgerEntry], int]:
    """Ledger entries, newest first; at least one of brand / consumer must scope it."""
    if brand_id is None and consumer_id is None:
        raise InvalidInput("scope the ledger by brand or consumer")
    query = select(LedgerEntry)
    if brand_id is not None:
        query = query.where(LedgerEntry.brand_id == brand_id)
    if consumer_id is not None:
        query = query.where(LedgerEntry.consumer_id == consumer_id)
    if reason:
        query = query.where(LedgerEntry.reason == reason)
    return await fetch_page(
        session, query.order_by(LedgerEntry.id.desc()), limit=limit, offset=offset
    )


async def claims_of(
    session: AsyncSession, consumer_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[list[Claim], int]:
    query = select(Claim).where(Claim.consumer_id == consumer_id).order_by(Claim.created_at.desc())
    return await fetch_page(session, query, limit=limit, offset=offset)


async def draws_of(session: AsyncSession, claim_ids: list[uuid.UUID]) -> dict[uuid.UUID, Draw]:
    if not claim_ids:
        return {}
    rows = await session.execute(select(Draw).where(Draw.claim_id.in_(claim_ids)))
    return {d.claim_id: d for d in rows.scalars()}


async def prize_names(session: AsyncSession, prize_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not prize_ids:
        return {}
    rows = await session.execute(select(Prize.id, Prize.name).where(Prize.id.in_(prize_ids)))
    return {r[0]: r[1] for r in rows}


async def won_draws(
    session: AsyncSession, consumer_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[list[Draw], int]:
    query = (
        select(Draw)
        .where(Draw.consumer_id == consumer_id, Draw.outcome == "won")
        .order_by(Draw.created_at.desc())
    )
    return await fetch_page(session, query, limit=limit, offset=offset)


async def redemptions_of(
    session: AsyncSession, consumer_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[list[Redemption], int]:
    query = (
        select(Redemption)
        .where(Redemption.consumer_id == consumer_id)
        .order_by(Redemption.created_at.desc())
    )
    return await fetch_page(session, query, limit=limit, offset=offset)


# ------------------------------------------------------------------------------- admin views
@dataclass(frozen=True, slots=True)
class ConsumerSummary:
    consumer: Consumer
    balance: int
    pending: int
    claims: int


async def brand_consumers(
    session: AsyncSession,
    brand_id: uuid.UUID,
    *,
    consumer_id: uuid.UUID | None,
    openid: str | None,
    limit: int,
    offset: int,
) -> tuple[list[ConsumerSummary], int]:
    """Consumers with an account at ``brand_id`` (only those: other brands' are invisible)."""
    claims = (
        select(func.count())
        .where(Claim.consumer_id == Account.consumer_id, Claim.brand_id == brand_id)
        .scalar_subquery()
    )
    query = (
        select(Consumer, Account.balance, Account.pending, claims)
        .join(Account, Account.consumer_id == Consumer.id)
        .where(Account.brand_id == brand_id)
    )
    if consumer_id is not None:
        query = query.where(Consumer.id == consumer_id)
    if openid is not None:
        query = query.where(Consumer.openid == openid)
    total = int(
        await session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    )
    rows = await session.execute(
        query.order_by(Consumer.created_at.desc(), Consumer.id).limit(limit).offset(offset)
    )
    return [ConsumerSummary(r[0], int(r[1]), int(r[2]), int(r[3] or 0)) for r in rows], total


async def review_queue(
    session: AsyncSession, brand_id: uuid.UUID, *, status: str, limit: int, offset: int
) -> tuple[list[Claim], int]:
    query = (
        select(Claim)
        .where(Claim.brand_id == brand_id, Claim.status == status)
        .order_by(Claim.created_at)
    )
    return await fetch_page(session, query, limit=limit, offset=offset)


async def get_draw(session: AsyncSession, brand_id: uuid.UUID, draw_id: uuid.UUID) -> Draw:
    draw = await session.get(Draw, draw_id)
    if draw is None or draw.brand_id != brand_id:
        raise NotFound("draw not found", code="draw_not_found")
    return draw


async def payouts_page(
    session: AsyncSession, brand_id: uuid.UUID, *, status: str | None, limit: int, offset: int
) -> tuple[list[Payout], int]:
    query = select(Payout).where(Payout.brand_id == brand_id)
    if status:
        query = query.where(Payout.status == status)
    return await fetch_page(session, query.order_by(Payout.created_at), limit=limit, offset=offset)


@dataclass(frozen=True, slots=True)
class DailyStats:
    day: date
    claims: int
    held: int
    points_issued: int
    redemptions: int
    points_redeemed: int


def _day(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


async def daily_stats(
    session: AsyncSession, brand_id: uuid.UUID, first: date, last: date
) -> list[DailyStats]:
    """Per UTC day: claims (and how many are held now), points credited to available
    balances (claims and releases), redemptions and the points they cost."""
    if last < first or (last - first).days > 366:
        raise InvalidInput("the range must be 1..367 days, from <= to", field="to")
    start = datetime.combine(first, time.min, tzinfo=UTC)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC)
    days: dict[date, list[int]] = {}

    def bucket(day: object) -> list[int]:
        return days.setdefault(_day(day), [0, 0, 0, 0, 0])

    claim_day = func.date(Claim.created_at)
    for day, count, held in await session.execute(
        select(claim_day, func.count(), func.sum(case((Claim.status == "held", 1), else_=0)))
        .where(Claim.brand_id == brand_id, Claim.created_at >= start, Claim.created_at < end)
        .group_by(claim_day)
    ):
        bucket(day)[0:2] = [int(count), int(held or 0)]
    ledger_day = func.date(LedgerEntry.created_at)
    for day, points in await session.execute(
        select(ledger_day, func.sum(LedgerEntry.delta))
        .where(
            LedgerEntry.brand_id == brand_id,
            LedgerEntry.reason == "claim",
            LedgerEntry.created_at >= start,
            LedgerEntry.created_at < end,
        )
        .group_by(ledger_day)
    ):
        bucket(day)[2] = int(points or 0)
    redemption_day = func.date(Redemption.created_at)
    for day, count, points in await session.execute(
        select(redemption_day, func.count(), func.sum(Redemption.cost_points))
        .where(
            Redemption.brand_id == brand_id,
            Redemption.created_at >= start,
            Redemption.created_at < end,
        )
        .group_by(redemption_day)
    ):
        bucket(day)[3:5] = [int(count), int(points or 0)]
    return [DailyStats(day, *values) for day, values in sorted(days.items())]


async def budgets_left(
    session: AsyncSession, brand_id: uuid.UUID
) -> list[tuple[Campaign, int | None, int | None]]:
    rows = await session.execute(
        select(Campaign).where(Campaign.brand_id == brand_id).order_by(Campaign.starts_at)
    )
    return [
        (
            c,
            None if c.budget_points is None else c.budget_points - c.spent_points,
            None if c.budget_claims is None else c.budget_claims - c.spent_claims,
        )
        for c in rows.scalars()
    ]
