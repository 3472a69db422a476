"""ORM rows → response bodies (shared by the consumer and admin routes)."""

from __future__ import annotations

from loyalty.models import (
    Campaign,
    CatalogueItem,
    Claim,
    Draw,
    LedgerEntry,
    Payout,
    Premises,
    Prize,
    Redemption,
)
from loyalty.schemas import (
    CampaignOut,
    CatalogueItemOut,
    ClaimOut,
    DrawOut,
    LedgerEntryOut,
    PayoutOut,
    PremisesOut,
    PrizeOut,
    RedemptionOut,
)

__all__ = [
    "campaign_out",
    "claim_out",
    "draw_out",
    "item_out",
    "ledger_out",
    "payout_out",
    "premises_out",
    "prize_out",
    "redemption_out",
]


def draw_out(draw: Draw, prize_name: str | None) -> DrawOut:
    return DrawOut(id=draw.id, outcome=draw.outcome, prize_id=draw.prize_id, prize_name=prize_name)


def claim_out(claim: Claim, draw: DrawOut | None = None) -> ClaimOut:
    return ClaimOut(
        id=claim.id,
        brand_id=claim.brand_id,
        code_id=claim.code_id,
        status=claim.status,
        points=claim.points,
        base_points=claim.base_points,
        bonus_points=claim.bonus_points,
        campaign_id=claim.campaign_id,
        bonus_campaign_id=claim.bonus_campaign_id,
        hold_reasons=list(claim.hold_reasons or []),
        created_at=claim.created_at,
        draw=draw,
    )


def ledger_out(entry: LedgerEntry) -> LedgerEntryOut:
    return LedgerEntryOut(
        id=entry.id,
        consumer_id=entry.consumer_id,
        brand_id=entry.brand_id,
        bucket=entry.bucket,
        delta=entry.delta,
        reason=entry.reason,
        ref_type=entry.ref_type,
        ref_id=entry.ref_id,
        campaign_id=entry.campaign_id,
        expires_at=entry.expires_at,
        note=entry.note,
        created_at=entry.created_at,
    )


def item_out(item: CatalogueItem) -> CatalogueItemOut:
    return CatalogueItemOut(
        id=item.id,
        brand_id=item.brand_id,
        name=item.name,
        cost_points=item.cost_points,
        stock=item.stock,
        redeemed=item.redeemed,
        kind=item.kind,
        amount_cents=item.amount_cents,
        active=item.active,
    )


def redemption_out(redemption: Redemption, order_no: str | None) -> RedemptionOut:
    return RedemptionOut(
        id=redemption.id,
        item_id=redemption.item_id,
        brand_id=redemption.brand_id,
        cost_points=redemption.cost_points,
        client_key=redemption.client_key,
        created_at=redemption.created_at,
        payout_order_no=order_no,
    )


def campaign_out(c: Campaign) -> CampaignOut:
    return CampaignOut(
        id=c.id,
        brand_id=c.brand_id,
        name=c.name,
        kind=c.kind,
        points=c.points,
        multiplier=c.multiplier,
        starts_at=c.starts_at,
        ends_at=c.ends_at,
        product_ids=list(c.product_ids or []),
        regions=list(c.regions or []),
        budget_points=c.budget_points,
        budget_claims=c.budget_claims,
        spent_points=c.spent_points,
        spent_claims=c.spent_claims,
        daily_cap_per_consumer=c.daily_cap_per_consumer,
        total_cap_per_consumer=c.total_cap_per_consumer,
        active=c.active,
    )


def prize_out(p: Prize) -> PrizeOut:
    return PrizeOut(
        id=p.id,
        campaign_id=p.campaign_id,
        name=p.name,
        probability_ppm=p.probability_ppm,
        stock=p.stock,
        awarded=p.awarded,
        kind=p.kind,
        amount_cents=p.amount_cents,
    )


def premises_out(p: Premises) -> PremisesOut:
    return PremisesOut(
        id=p.id,
        name=p.name,
        lat=p.lat,
        lon=p.lon,
        radius_m=p.radius_m,
        distributor_id=p.distributor_id,
    )


def payout_out(p: Payout) -> PayoutOut:
    return PayoutOut(
        id=p.id,
        order_no=p.order_no,
        consumer_id=p.consumer_id,
        amount_cents=p.amount_cents,
        source_type=p.source_type,
        status=p.status,
        attempts=p.attempts,
        last_error=p.last_error,
        created_at=p.created_at,
        sent_at=p.sent_at,
    )
