"""Campaigns, prize tiers, the redemption catalogue and distributor premises (brand admin),
and the rule that picks the campaigns paying for a claim.

When several campaigns match a claim (brand, window, product, region, consumer caps):

1. **Base points**: among ``points`` campaigns, the highest ``points`` wins; ties go to the
   earliest ``starts_at``, then the smallest id. If the winner's budget cannot pay, the next
   one in that order is tried; if none can, the claim earns nothing (409 ``no_campaign``) and
   the code stays unclaimed.
2. **Multiplier** (optional): among ``multiplier`` campaigns, the highest multiplier wins
   (same tie-break, same budget fallback). It adds ``round(base * multiplier) - base`` bonus
   points, charged to the multiplier campaign's budget. Multipliers never stack.
3. Budgets are taken by one conditional ``UPDATE`` per campaign (``spent + n <= budget``):
   never overspent under concurrency. A rejected held claim gives its budget back. A campaign
   without a budget is not charged (no row lock shared by all its claims; ``spent_*`` stay 0).
4. Caps count a consumer's credited and held claims paid by that campaign: per UTC day
   (``daily_cap_per_consumer``) and in total (``total_cap_per_consumer``). A capped campaign
   is skipped, so a lower-paying one may pay instead.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.audit import record_audit
from kernel.auth import Principal
from kernel.db import utcnow
from kernel.errors import InvalidInput, NotFound
from kernel.pagination import fetch_page
from kernel.tenancy import OwnedIds, require_own
from loyalty.models import Campaign, CatalogueItem, Claim, Premises, Prize
from loyalty.schemas import (
    CampaignIn,
    CampaignUpdate,
    CatalogueItemIn,
    CatalogueItemUpdate,
    PremisesIn,
    PrizeIn,
)

__all__ = [
    "Payers",
    "create_campaign",
    "create_item",
    "create_premises",
    "create_prize",
    "get_campaign",
    "get_item",
    "list_campaigns",
    "list_items",
    "list_premises",
    "list_prizes",
    "matches_region",
    "pick_payers",
    "refund_budget",
    "update_campaign",
    "update_item",
]


# --------------------------------------------------------------------------------- admin CRUD
async def get_campaign(
    session: AsyncSession, brand_id: uuid.UUID, campaign_id: uuid.UUID
) -> Campaign:
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None or campaign.brand_id != brand_id:
        raise NotFound("campaign not found", code="campaign_not_found")
    return campaign


async def create_campaign(
    session: AsyncSession,
    actor: Principal | None,
    brand_id: uuid.UUID,
    data: CampaignIn,
    *,
    products: OwnedIds,
) -> Campaign:
    """A campaign of the brand; ``product_ids`` must all be the brand's (``products``)."""
    if data.ends_at <= data.starts_at:
        raise InvalidInput("ends_at must be after starts_at", field="ends_at")
    if data.kind == "points" and (data.points is None or data.multiplier is not None):
        raise InvalidInput("a points campaign sets points (and no multiplier)", field="points")
    if data.kind == "multiplier" and (data.multiplier is None or data.points is not None):
        raise InvalidInput(
            "a multiplier campaign sets multiplier (and no points)", field="multiplier"
        )
    await require_own(
        session, brand_id, data.product_ids, owned=products, kind="product", field="product_ids"
    )
    campaign = Campaign(
        brand_id=brand_id,
        name=data.name,
        kind=data.kind,
        points=data.points,
        multiplier=data.multiplier,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        product_ids=[str(p) for p in data.product_ids],
        regions=list(data.regions),
        budget_points=data.budget_points,
        budget_claims=data.budget_claims,
        spent_points=0,
        spent_claims=0,
        daily_cap_per_consumer=data.daily_cap_per_consumer,
        total_cap_per_consumer=data.total_cap_per_consumer,
        active=True,
        created_at=utcnow(),
    )
    session.add(campaign)
    await session.flush()
    record_audit(
        session,
        actor,
        "loyalty.campaign.create",
        target_type="campaign",
        target_id=campaign.id,
        brand_id=brand_id,
        details={"name": data.name, "kind": data.kind},
    )
    return campaign


async def update_campaign(
    session: AsyncSession,
    actor: Principal,
    brand_id: uuid.UUID,
    campaign_id: uuid.UUID,
    data: CampaignUpdate,
) -> Campaign:
    campaign = await get_campaign(session, brand_id, campaign_id)
    changes = {f: getattr(data, f) for f in data.__struct_fields__ if getattr(data, f) is not None}
    if "ends_at" in changes and changes["ends_at"] <= campaign.starts_at:
        raise InvalidInput("ends_at must be after starts_at", field="ends_at")
    for budget, spent in (("budget_points", "spent_points"), ("budget_claims", "spent_claims")):
        if budget in changes and changes[budget] < getattr(campaign, spent):
            raise InvalidInput(f"{budget} is below what was already spent", field=budget)
    # Budgets move with a conditional UPDATE too: a concurrent claim may be spending.
    stmt = update(Campaign).where(Campaign.id == campaign.id).values(**changes)
    if "budget_points" in changes:
        stmt = stmt.where(Campaign.spent_points <= changes["budget_points"])
    if "budget_claims" in changes:
        stmt = stmt.where(Campaign.spent_claims <= changes["budget_claims"])
    result = await session.execute(stmt.execution_options(synchronize_session=False))
    if getattr(result, "rowcount", 0) != 1:
        raise InvalidInput("the budget is below what was already spent", field="budget_points")
    await session.refresh(campaign)
    record_audit(
        session,
        actor,
        "loyalty.campaign.update",
        target_type="campaign",
        target_id=campaign.id,
        brand_id=brand_id,
        details={k: str(v) for k, v in changes.items()},
    )
    return campaign


async def list_campaigns(
    session: AsyncSession, brand_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[list[Campaign], int]:
    query = (
        select(Campaign)
        .where(Campaign.brand_id == brand_id)
        .order_by(Campaign.starts_at.desc(), Campaign.id)
    )
    return await fetch_page(session, query, limit=limit, offset=offset)


async def create_prize(
    session: AsyncSession,
    actor: Principal,
    brand_id: uuid.UUID,
    campaign_id: uuid.UUID,
    data: PrizeIn,
) -> Prize:
    campaign = await get_campaign(session, brand_id, campaign_id)
    if data.kind == "red_envelope" and data.amount_cents is None:
        raise InvalidInput("a red envelope needs amount_cents", field="amount_cents")
    total = await session.scalar(
        select(func.coalesce(func.sum(Prize.probability_ppm), 0)).where(
            Prize.campaign_id == campaign.id
        )
    )
    if int(total or 0) + data.probability_ppm > 1_000_000:
        raise InvalidInput(
            "the campaign's prize probabilities would exceed 1,000,000 ppm",
            field="probability_ppm",
        )
    prize = Prize(
        brand_id=brand_id,
        campaign_id=campaign.id,
        name=data.name,
        probability_ppm=data.probability_ppm,
        stock=data.stock,
        awarded=0,
        kind=data.kind,
        amount_cents=data.amount_cents,
        created_at=utcnow(),
    )
    session.add(prize)
    await session.flush()
    record_audit(
        session,
        actor,
        "loyalty.prize.create",
        target_type="prize",
        target_id=prize.id,
        brand_id=brand_id,
        details={"campaign_id": str(campaign.id), "stock": data.stock},
    )
    return prize


async def list_prizes(
    session: AsyncSession, brand_id: uuid.UUID, campaign_id: uuid.UUID
) -> list[Prize]:
    await get_campaign(session, brand_id, campaign_id)
    rows = await session.execute(
        select(Prize).where(Prize.campaign_id == campaign_id).order_by(Prize.created_at, Prize.id)
    )
    return list(rows.scalars())


async def get_item(
    session: AsyncSession, brand_id: uuid.UUID | None, item_id: uuid.UUID
) -> CatalogueItem:
    item = await session.get(CatalogueItem, item_id)
    if item is None or (brand_id is not None and item.brand_id != brand_id):
        raise NotFound("catalogue item not found", code="item_not_found", field="item_id")
    return item


async def create_item(
    session: AsyncSession, actor: Principal, brand_id: uuid.UUID, data: CatalogueItemIn
) -> CatalogueItem:
    if data.kind == "red_envelope" and data.amount_cents is None:
        raise InvalidInput("a red envelope needs amount_cents", field="amount_cents")
    item = CatalogueItem(
        brand_id=brand_id,
        name=data.name,
        cost_points=data.cost_points,
        stock=data.stock,
        redeemed=0,
        kind=data.kind,
        amount_cents=data.amount_cents,
        active=True,
        created_at=utcnow(),
    )
    session.add(item)
    await session.flush()
    record_audit(
        session,
        actor,
        "loyalty.item.create",
        target_type="catalogue_item",
        target_id=item.id,
        brand_id=brand_id,
        details={"cost_points": data.cost_points, "stock": data.stock},
    )
    return item


async def update_item(
    session: AsyncSession,
    actor: Principal,
    brand_id: uuid.UUID,
    item_id: uuid.UUID,
    data: CatalogueItemUpdate,
) -> CatalogueItem:
    item = await get_item(session, brand_id, item_id)
    changes = {f: getattr(data, f) for f in data.__struct_fields__ if getattr(data, f) is not None}
    stmt = update(CatalogueItem).where(CatalogueItem.id == item.id).values(**changes)
    if "stock" in changes:  # never below what was already redeemed, even concurrently
        stmt = stmt.where(CatalogueItem.redeemed <= changes["stock"])
    result = await session.execute(stmt.execution_options(synchronize_session=False))
    if getattr(result, "rowcount", 0) != 1:
        raise InvalidInput("stock is below what was already redeemed", field="stock")
    await session.refresh(item)
    record_audit(
        session,
        actor,
        "loyalty.item.update",
        target_type="catalogue_item",
        target_id=item.id,
        brand_id=brand_id,
        details={k: str(v) for k, v in changes.items()},
    )
    return item


async def list_items(
    session: AsyncSession, brand_id: uuid.UUID, *, only_active: bool, limit: int, offset: int
) -> tuple[list[CatalogueItem], int]:
    query = select(CatalogueItem).where(CatalogueItem.brand_id == brand_id)
    if only_active:
        query = query.where(CatalogueItem.active.is_(True))
    query = query.order_by(CatalogueItem.cost_points, CatalogueItem.id)
    return await fetch_page(session, query, limit=limit, offset=offset)


async def create_premises(
    session: AsyncSession,
    actor: Principal,
    brand_id: uuid.UUID,
    data: PremisesIn,
    *,
    distributors: OwnedIds,
) -> Premises:
    """Premises of the brand; ``distributor_id`` must be the brand's (``distributors``)."""
    if data.distributor_id is not None:
        await require_own(
            session,
            brand_id,
            [data.distributor_id],
            owned=distributors,
            kind="distributor",
            field="distributor_id",
        )
    premises = Premises(
        brand_id=brand_id,
        distributor_id=data.distributor_id,
        name=data.name,
        lat=data.lat,
        lon=data.lon,
        radius_m=data.radius_m,
        created_at=utcnow(),
    )
    session.add(premises)
    await session.flush()
    record_audit(
        session,
        actor,
        "loyalty.premises.create",
        target_type="premises",
        target_id=premises.id,
        brand_id=brand_id,
        details={"name": data.name},
    )
    return premises


async def list_premises(session: AsyncSession, brand_id: uuid.UUID) -> list[Premises]:
    rows = await session.execute(
        select(Premises).where(Premises.brand_id == brand_id).order_by(Premises.created_at)
    )
    return list(rows.scalars())


# ------------------------------------------------------------------------- which campaigns pay
@dataclass(frozen=True, slots=True)
class Payers:
    campaign: Campaign
    base_points: int
    bonus: Campaign | None
    bonus_points: int


def matches_region(regions: list[str], country: str | None, region: str | None) -> bool:
    """Empty = everywhere; ``CN`` matches any Chinese scan, ``CN-GD`` only that province."""
    if not regions:
        return True
    return any(r in (country, region) for r in regions if r)


def _order_key(campaign: Campaign) -> tuple[float, datetime, str]:
    value = float(campaign.points or 0) if campaign.kind == "points" else campaign.multiplier or 1
    return (-value, campaign.starts_at, str(campaign.id))


async def _capped(
    session: AsyncSession, campaign: Campaign, consumer_id: uuid.UUID, now: datetime
) -> bool:
    if campaign.daily_cap_per_consumer is None and campaign.total_cap_per_consumer is None:
        return False
    paid_by = or_(Claim.campaign_id == campaign.id, Claim.bonus_campaign_id == campaign.id)
    base = select(func.count()).where(
        Claim.consumer_id == consumer_id, paid_by, Claim.status != "rejected"
    )
    if campaign.total_cap_per_consumer is not None:
        total = int(await session.scalar(base) or 0)
        if total >= campaign.total_cap_per_consumer:
            return True
    if campaign.daily_cap_per_consumer is not None:
        day_start = datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)
        today = int(await session.scalar(base.where(Claim.created_at >= day_start)) or 0)
        if today >= campaign.daily_cap_per_consumer:
            return True
    return False


async def _spend(session: AsyncSession, campaign: Campaign, points: int) -> bool:
    if campaign.budget_points is None and campaign.budget_claims is None:
        # Nothing to protect: an unbudgeted campaign's row is not locked by every claim
        # (its spent_* counters stay 0; the daily statistics count what it paid).
        return True
    result = await session.execute(
        update(Campaign)
        .where(
            Campaign.id == campaign.id,
            or_(
                Campaign.budget_points.is_(None),
                Campaign.spent_points + points <= Campaign.budget_points,
            ),
            or_(
                Campaign.budget_claims.is_(None),
                Campaign.spent_claims + 1 <= Campaign.budget_claims,
            ),
        )
        .values(spent_points=Campaign.spent_points + points, spent_claims=Campaign.spent_claims + 1)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


async def refund_budget(session: AsyncSession, campaign_id: uuid.UUID, points: int) -> None:
    """Give back what a rejected claim took from a campaign's budget."""
    await session.execute(
        update(Campaign)
        .where(
            Campaign.id == campaign_id,
            or_(Campaign.budget_points.is_not(None), Campaign.budget_claims.is_not(None)),
        )
        .values(spent_points=Campaign.spent_points - points, spent_claims=Campaign.spent_claims - 1)
        .execution_options(synchronize_session=False)
    )


async def pick_payers(
    session: AsyncSession,
    *,
    brand_id: uuid.UUID,
    product_id: uuid.UUID,
    consumer_id: uuid.UUID,
    country: str | None,
    region: str | None,
    now: datetime,
) -> Payers | None:
    """Apply the rule in the module docstring; spends the budgets it picks. The caller holds
    the consumer's account lock, so the cap counts cannot race with the consumer's own
    claims."""
    rows = await session.execute(
        select(Campaign).where(
            Campaign.brand_id == brand_id,
            Campaign.active.is_(True),
            Campaign.starts_at <= now,
            Campaign.ends_at > now,
        )
    )
    product = str(product_id)
    candidates = sorted(
        (
            c
            for c in rows.scalars()
            if (not c.product_ids or product in c.product_ids)
            and matches_region(c.regions, country, region)
        ),
        key=_order_key,
    )
    base: Campaign | None = None
    for campaign in (c for c in candidates if c.kind == "points"):
        points = int(campaign.points or 0)
        if await _capped(session, campaign, consumer_id, now):
            continue
        if await _spend(session, campaign, points):
            base = campaign
            break
    if base is None:
        return None
    base_points = int(base.points or 0)
    for campaign in (c for c in candidates if c.kind == "multiplier"):
        bonus_points = round(base_points * float(campaign.multiplier or 1)) - base_points
        if bonus_points <= 0 or await _capped(session, campaign, consumer_id, now):
            continue
        if await _spend(session, campaign, bonus_points):
            return Payers(base, base_points, campaign, bonus_points)
    return Payers(base, base_points, None, 0)
