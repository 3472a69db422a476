"""Brand admin loyalty API under ``/v1/admin/loyalty``: campaigns, prizes, catalogue,
distributor premises, consumer lookup, ledger audit, the review queue, draw audits, payouts,
statistics and points expiry. Every query is scoped by the acting brand."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Any

from litestar import Controller, get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from kernel.audit import record_audit
from kernel.db import utcnow
from kernel.errors import InvalidInput, NotFound
from kernel.guards import BRAND_READ, BRAND_WRITE
from kernel.pagination import Limit, Offset
from kernel.settings import provide_settings
from kernel.tenancy import SECURITY, ActingBrand, Caller, Db, owned_ids, scoped_dependencies
from loyalty import campaigns, queries, rewards
from loyalty.claims import LoyaltyService
from loyalty.schemas import (
    AdjustmentIn,
    CampaignBudgetOut,
    CampaignIn,
    CampaignOut,
    CampaignPage,
    CampaignUpdate,
    CatalogueItemIn,
    CatalogueItemOut,
    CatalogueItemPage,
    CatalogueItemUpdate,
    ClaimOut,
    ClaimPage,
    ConsumerOut,
    ConsumerPage,
    DailyStatsOut,
    DrawAuditOut,
    ExpiryOut,
    LedgerEntryOut,
    LedgerEntryPage,
    PayoutPage,
    PremisesIn,
    PremisesOut,
    PrizeIn,
    PrizeOut,
    ReviewIn,
    StatsOut,
)
from loyalty.views import (
    campaign_out,
    claim_out,
    item_out,
    ledger_out,
    payout_out,
    premises_out,
    prize_out,
)

__all__ = ["ADMIN_ROUTES", "LoyaltyAdminController"]


def _loyalty(state: State) -> LoyaltyService:
    service: LoyaltyService = state.loyalty
    return service


class LoyaltyAdminController(Controller):
    path = "/v1/admin/loyalty"
    tags = ("loyalty-admin",)
    security = SECURITY
    dependencies = scoped_dependencies()

    # ----------------------------------------------------------------------------- campaigns
    @post("/campaigns", status_code=201, guards=[BRAND_WRITE])
    async def create_campaign(
        self,
        data: JSONBody[CampaignIn],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        state: State,
    ) -> CampaignOut:
        """Create a points or multiplier campaign (see docs/loyalty.md for the matching rule).
        ``product_ids`` naming no product of the brand: 422 ``unknown_product``."""
        campaign = await campaigns.create_campaign(
            db, principal, acting_brand, data, products=owned_ids(state, "product")
        )
        return campaign_out(campaign)

    @get("/campaigns", guards=[BRAND_READ])
    async def list_campaigns(
        self,
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> CampaignPage:
        """The brand's campaigns with budget spent so far."""
        rows, total = await campaigns.list_campaigns(db, acting_brand, limit=limit, offset=offset)
        return CampaignPage(
            items=[campaign_out(c) for c in rows], total=total, limit=limit, offset=offset
        )

    @get("/campaigns/{campaign_id:uuid}", guards=[BRAND_READ])
    async def get_campaign(
        self, campaign_id: FromPath[uuid.UUID], principal: Caller, acting_brand: ActingBrand, db: Db
    ) -> CampaignOut:
        """One campaign (404 for another brand's)."""
        return campaign_out(await campaigns.get_campaign(db, acting_brand, campaign_id))

    @patch("/campaigns/{campaign_id:uuid}", guards=[BRAND_WRITE])
    async def update_campaign(
        self,
        campaign_id: FromPath[uuid.UUID],
        data: JSONBody[CampaignUpdate],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> CampaignOut:
        """Rename, extend, pause (``active``), change budgets (never below what was spent)
        or caps."""
        campaign = await campaigns.update_campaign(db, principal, acting_brand, campaign_id, data)
        return campaign_out(campaign)

    @post("/campaigns/{campaign_id:uuid}/prizes", status_code=201, guards=[BRAND_WRITE])
    async def create_prize(
        self,
        campaign_id: FromPath[uuid.UUID],
        data: JSONBody[PrizeIn],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> PrizeOut:
        """Add a prize tier to the campaign's draw (probabilities sum to at most 1,000,000)."""
        prize = await campaigns.create_prize(db, principal, acting_brand, campaign_id, data)
        return prize_out(prize)

    @get("/campaigns/{campaign_id:uuid}/prizes", guards=[BRAND_READ])
    async def list_prizes(
        self, campaign_id: FromPath[uuid.UUID], principal: Caller, acting_brand: ActingBrand, db: Db
    ) -> list[PrizeOut]:
        """The campaign's prize tiers, in draw order, with stock awarded."""
        return [prize_out(p) for p in await campaigns.list_prizes(db, acting_brand, campaign_id)]

    # ----------------------------------------------------------------------------- catalogue
    @post("/catalogue", status_code=201, guards=[BRAND_WRITE])
    async def create_item(
        self,
        data: JSONBody[CatalogueItemIn],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> CatalogueItemOut:
        """Add a redemption item (goods, or a cash red envelope paid through the payout queue)."""
        return item_out(await campaigns.create_item(db, principal, acting_brand, data))

    @get("/catalogue", guards=[BRAND_READ])
    async def list_items(
        self,
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> CatalogueItemPage:
        """Every item of the brand, active or not."""
        rows, total = await campaigns.list_items(
            db, acting_brand, only_active=False, limit=limit, offset=offset
        )
        return CatalogueItemPage(
            items=[item_out(i) for i in rows], total=total, limit=limit, offset=offset
        )

    @patch("/catalogue/{item_id:uuid}", guards=[BRAND_WRITE])
    async def update_item(
        self,
        item_id: FromPath[uuid.UUID],
        data: JSONBody[CatalogueItemUpdate],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> CatalogueItemOut:
        """Rename, restock (never below what was redeemed) or withdraw an item."""
        return item_out(await campaigns.update_item(db, principal, acting_brand, item_id, data))

    # ------------------------------------------------------------------------------ premises
    @post("/premises", status_code=201, guards=[BRAND_WRITE])
    async def create_premises(
        self,
        data: JSONBody[PremisesIn],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        state: State,
    ) -> PremisesOut:
        """A distributor's site: GPS-located claims inside its circle are held for review.
        A ``distributor_id`` that is no distributor of the brand: 422 ``unknown_distributor``."""
        premises = await campaigns.create_premises(
            db, principal, acting_brand, data, distributors=owned_ids(state, "distributor")
        )
        return premises_out(premises)

    @get("/premises", guards=[BRAND_READ])
    async def list_premises(
        self, principal: Caller, acting_brand: ActingBrand, db: Db
    ) -> list[PremisesOut]:
        """The brand's distributor premises."""
        return [premises_out(p) for p in await campaigns.list_premises(db, acting_brand)]

    # ------------------------------------------------------------------- consumers and ledger
    @get("/consumers", guards=[BRAND_READ])
    async def list_consumers(
        self,
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        consumer_id: FromQuery[uuid.UUID | None] = None,
        openid: Annotated[str | None, QueryParameter(max_length=64)] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> ConsumerPage:
        """Consumers with points at this brand (look one up by id or openid)."""
        rows, total = await queries.brand_consumers(
            db, acting_brand, consumer_id=consumer_id, openid=openid, limit=limit, offset=offset
        )
        return ConsumerPage(
            items=[
                ConsumerOut(
                    id=r.consumer.id,
                    openid=r.consumer.openid,
                    anonymous=r.consumer.openid is None,
                    balance=r.balance,
                    pending=r.pending,
                    claims=r.claims,
                    created_at=r.consumer.created_at,
                )
                for r in rows
            ],
            total=total,
            limit=limit,
            offset=offset,
        )

    @get("/ledger", guards=[BRAND_READ])
    async def list_ledger(
        self,
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        consumer_id: FromQuery[uuid.UUID | None] = None,
        reason: Annotated[str | None, QueryParameter(max_length=20)] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> LedgerEntryPage:
        """Ledger audit: this brand's entries, newest first, by consumer and reason."""
        rows, total = await queries.ledger_page(
            db,
            brand_id=acting_brand,
            consumer_id=consumer_id,
            reason=reason,
            limit=limit,
            offset=offset,
        )
        return LedgerEntryPage(
            items=[ledger_out(e) for e in rows], total=total, limit=limit, offset=offset
        )

    @post("/consumers/{consumer_id:uuid}/adjustments", status_code=201, guards=[BRAND_WRITE])
    async def adjust_points(
        self,
        consumer_id: FromPath[uuid.UUID],
        data: JSONBody[AdjustmentIn],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        state: State,
    ) -> LedgerEntryOut:
        """Credit (positive) or debit (negative) a consumer's points at this brand by hand;
        idempotent by ``client_key``. Credits expire like earned points."""
        if data.points == 0:
            raise InvalidInput("points must not be zero", field="points")
        ttl = provide_settings(state).loyalty.points_ttl_days
        entry = await rewards.adjust(
            db,
            brand_id=acting_brand,
            consumer_id=consumer_id,
            points=data.points,
            note=data.note,
            client_key=data.client_key,
            expires_at=utcnow() + timedelta(days=ttl) if ttl > 0 else None,
        )
        record_audit(
            db,
            principal,
            "loyalty.points.adjust",
            target_type="consumer",
            target_id=consumer_id,
            brand_id=acting_brand,
            details={"points": data.points, "note": data.note},
        )
        return ledger_out(entry)

    # --------------------------------------------------------------------------- review queue
    @get("/reviews", guards=[BRAND_READ])
    async def list_reviews(
        self,
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        status: Annotated[str, QueryParameter(pattern="^(held|credited|rejected)$")] = "held",
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> ClaimPage:
        """Claims held by fraud signals (oldest first), with their ``hold_reasons``."""
        rows, total = await queries.review_queue(
            db, acting_brand, status=status, limit=limit, offset=offset
        )
        return ClaimPage(
            items=[claim_out(c) for c in rows], total=total, limit=limit, offset=offset
        )

    @post("/claims/{claim_id:uuid}/{action:str}", status_code=200, guards=[BRAND_WRITE])
    async def review_claim(
        self,
        claim_id: FromPath[uuid.UUID],
        action: FromPath[str],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        state: State,
        data: JSONBody[ReviewIn | None] = None,
    ) -> ClaimOut:
        """``release``: credit a held claim's points (and run its draw); ``reject``: drop
        them, the campaigns get their budget back. 409 ``not_held`` unless held."""
        service = _loyalty(state)
        actions = {"release": service.release, "reject": service.reject}
        if action not in actions:
            raise NotFound(f"no review action {action!r}", code="unknown_action", field="action")
        outcome = await actions[action](
            db, principal, acting_brand, claim_id, data.note if data else None
        )
        return claim_out(outcome.claim)

    # ---------------------------------------------------------------------------- draw audit
    @get("/draws/{draw_id:uuid}", guards=[BRAND_READ])
    async def audit_draw(
        self, draw_id: FromPath[uuid.UUID], principal: Caller, acting_brand: ActingBrand, db: Db
    ) -> DrawAuditOut:
        """A draw with its seed and tiers, recomputed: ``consistent`` says the stored outcome
        follows from them (``out_of_stock``: the winning tier had no stock left)."""
        draw = await queries.get_draw(db, acting_brand, draw_id)
        roll = rewards.compute_roll(draw.seed, draw.claim_id)
        tiers = [(uuid.UUID(t["prize_id"]), int(t["probability_ppm"])) for t in draw.tiers]
        expected = rewards.pick_tier(tiers, roll)
        consistent = roll == draw.roll and (
            (draw.outcome == "won" and draw.prize_id == expected)
            or (draw.outcome == "lost" and expected is None)
            or (draw.outcome == "out_of_stock" and expected is not None)
        )
        return DrawAuditOut(
            id=draw.id,
            claim_id=draw.claim_id,
            campaign_id=draw.campaign_id,
            seed=draw.seed,
            roll=draw.roll,
            tiers=list(draw.tiers),
            outcome=draw.outcome,
            prize_id=draw.prize_id,
            recomputed_roll=roll,
            recomputed_prize_id=expected,
            consistent=consistent,
        )

    # -------------------------------------------------------------------------------- payouts
    @get("/payouts", guards=[BRAND_READ])
    async def list_payouts(
        self,
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        status: Annotated[str | None, QueryParameter(pattern="^(queued|sent|failed)$")] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> PayoutPage:
        """Cash payouts and their delivery state."""
        rows, total = await queries.payouts_page(
            db, acting_brand, status=status, limit=limit, offset=offset
        )
        return PayoutPage(
            items=[payout_out(p) for p in rows], total=total, limit=limit, offset=offset
        )

    # ------------------------------------------------------------------------ stats / expiry
    @get("/stats", guards=[BRAND_READ])
    async def get_stats(
        self,
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        start: FromQuery[date],
        end: FromQuery[date],
    ) -> StatsOut:
        """Daily claims (and held), points issued, redemptions and points redeemed for
        ``start..end`` (UTC days, inclusive), and every campaign's budget left."""
        days = await queries.daily_stats(db, acting_brand, start, end)
        budgets = await queries.budgets_left(db, acting_brand)
        return StatsOut(
            days=[
                DailyStatsOut(
                    day=d.day,
                    claims=d.claims,
                    held=d.held,
                    points_issued=d.points_issued,
                    redemptions=d.redemptions,
                    points_redeemed=d.points_redeemed,
                )
                for d in days
            ],
            campaigns=[
                CampaignBudgetOut(
                    campaign_id=c.id,
                    name=c.name,
                    budget_points_left=points,
                    budget_claims_left=claims,
                )
                for c, points, claims in budgets
            ],
        )

    @post("/expire", status_code=200, guards=[BRAND_WRITE])
    async def expire_points(
        self, principal: Caller, acting_brand: ActingBrand, db: Db
    ) -> ExpiryOut:
        """Expire this brand's points past their expiry date now (also ``scanguard loyalty
        expire-points``, for a scheduler). Idempotent."""
        accounts, points = await rewards.expire_points(db, acting_brand, utcnow())
        record_audit(
            db,
            principal,
            "loyalty.points.expire",
            target_type="brand",
            target_id=acting_brand,
            brand_id=acting_brand,
            details={"accounts": accounts, "points": points},
        )
        return ExpiryOut(accounts=accounts, points_expired=points)


ADMIN_ROUTES: list[Any] = [LoyaltyAdminController]
