"""Request and response bodies of the loyalty API (consumer and brand admin)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec

from gateway.schemas import GpsIn
from kernel.pagination import Page

__all__ = [
    "AccountOut",
    "AdjustmentIn",
    "BindIn",
    "CampaignIn",
    "CampaignOut",
    "CampaignUpdate",
    "CatalogueItemIn",
    "CatalogueItemOut",
    "CatalogueItemUpdate",
    "ClaimIn",
    "ClaimOut",
    "ConsumerOut",
    "ConsumerTokenOut",
    "DailyStatsOut",
    "DrawAuditOut",
    "DrawOut",
    "ExpiryOut",
    "LedgerEntryOut",
    "MeOut",
    "PayoutOut",
    "PremisesIn",
    "PremisesOut",
    "PrizeIn",
    "PrizeOut",
    "RedeemIn",
    "RedemptionOut",
    "ReviewIn",
    "StatsOut",
    "WebSessionOut",
    "WxLoginIn",
]

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Kind = Literal["goods", "red_envelope"]
Count = Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)]
Cents = Annotated[int, msgspec.Meta(ge=1, le=2_000_000)]


class _Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


# --------------------------------------------------------------------------------- consumers
class WxLoginIn(_Input):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=128, description="wx.login code")]


class BindIn(WxLoginIn):
    pass


class ConsumerTokenOut(msgspec.Struct, kw_only=True):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the scheme name, not a secret
    expires_in: int
    consumer_id: uuid.UUID


class WebSessionOut(msgspec.Struct, kw_only=True):
    consumer_id: uuid.UUID


class ClaimIn(_Input):
    url: Annotated[str, msgspec.Meta(min_length=5, max_length=512, description="Scanned URL")]
    device_id: (
        Annotated[
            str,
            msgspec.Meta(
                min_length=1,
                max_length=128,
                description="Mini-program install id (the one sent to POST /v1/scans); "
                "browsers send their sgd cookie instead",
            ),
        ]
        | None
    ) = None
    pin: Annotated[str, msgspec.Meta(min_length=1, max_length=20)] | None = None
    location: GpsIn | None = None


class DrawOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    outcome: str
    prize_id: uuid.UUID | None
    prize_name: str | None


class DrawPage(Page[DrawOut], kw_only=True):
    """One page of draw entries."""

    items: list[DrawOut]


class ClaimOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    brand_id: uuid.UUID
    code_id: int
    status: str
    points: int
    base_points: int
    bonus_points: int
    campaign_id: uuid.UUID | None
    bonus_campaign_id: uuid.UUID | None
    hold_reasons: list[str]
    created_at: datetime
    draw: DrawOut | None = None


class ClaimPage(Page[ClaimOut], kw_only=True):
    """One page of claim entries."""

    items: list[ClaimOut]


class AccountOut(msgspec.Struct, kw_only=True):
    brand_id: uuid.UUID
    balance: int
    pending: int


class MeOut(msgspec.Struct, kw_only=True):
    consumer_id: uuid.UUID
    wechat_bound: bool
    accounts: list[AccountOut]


class LedgerEntryOut(msgspec.Struct, kw_only=True):
    id: int
    consumer_id: uuid.UUID
    brand_id: uuid.UUID
    bucket: str
    delta: int
    reason: str
    ref_type: str
    ref_id: str
    campaign_id: uuid.UUID | None
    expires_at: datetime | None
    note: str | None
    created_at: datetime


class LedgerEntryPage(Page[LedgerEntryOut], kw_only=True):
    """One page of ledger entry entries."""

    items: list[LedgerEntryOut]


class RedeemIn(_Input):
    item_id: uuid.UUID
    client_key: Annotated[
        str, msgspec.Meta(min_length=8, max_length=100, description="Idempotency key")
    ]


class RedemptionOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    item_id: uuid.UUID
    brand_id: uuid.UUID
    cost_points: int
    client_key: str
    created_at: datetime
    payout_order_no: str | None = None


class RedemptionPage(Page[RedemptionOut], kw_only=True):
    """One page of redemption entries."""

    items: list[RedemptionOut]


# ----------------------------------------------------------------------------- brand admin
class CampaignIn(_Input):
    name: Name
    starts_at: datetime
    ends_at: datetime
    kind: Literal["points", "multiplier"] = "points"
    points: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] | None = None
    multiplier: Annotated[float, msgspec.Meta(gt=1.0, le=100.0)] | None = None
    product_ids: list[uuid.UUID] = []
    regions: list[Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")]] = []
    budget_points: Count | None = None
    budget_claims: Count | None = None
    daily_cap_per_consumer: Count | None = None
    total_cap_per_consumer: Count | None = None


class CampaignUpdate(_Input):
    name: Name | None = None
    ends_at: datetime | None = None
    budget_points: Count | None = None
    budget_claims: Count | None = None
    daily_cap_per_consumer: Count | None = None
    total_cap_per_consumer: Count | None = None
    active: bool | None = None


class CampaignOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    brand_id: uuid.UUID
    name: str
    kind: str
    points: int | None
    multiplier: float | None
    starts_at: datetime
    ends_at: datetime
    product_ids: list[str]
    regions: list[str]
    budget_points: int | None
    budget_claims: int | None
    spent_points: int
    spent_claims: int
    daily_cap_per_consumer: int | None
    total_cap_per_consumer: int | None
    active: bool


class CampaignPage(Page[CampaignOut], kw_only=True):
    """One page of campaign entries."""

    items: list[CampaignOut]


class PrizeIn(_Input):
    name: Name
    probability_ppm: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    stock: Count
    kind: Kind = "goods"
    amount_cents: Cents | None = None


class PrizeOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    campaign_id: uuid.UUID
    name: str
    probability_ppm: int
    stock: int
    awarded: int
    kind: str
    amount_cents: int | None


class CatalogueItemIn(_Input):
    name: Name
    cost_points: Annotated[int, msgspec.Meta(ge=1, le=100_000_000)]
    stock: Count
    kind: Kind = "goods"
    amount_cents: Cents | None = None


class CatalogueItemUpdate(_Input):
    name: Name | None = None
    stock: Count | None = None
    active: bool | None = None


class CatalogueItemOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    brand_id: uuid.UUID
    name: str
    cost_points: int
    stock: int
    redeemed: int
    kind: str
    amount_cents: int | None
    active: bool


class CatalogueItemPage(Page[CatalogueItemOut], kw_only=True):
    """One page of catalogue item entries."""

    items: list[CatalogueItemOut]


class PremisesIn(_Input):
    name: Name
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    radius_m: Annotated[float, msgspec.Meta(gt=0, le=5_000)]
    distributor_id: uuid.UUID | None = None


class PremisesOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    lat: float
    lon: float
    radius_m: float
    distributor_id: uuid.UUID | None


class AdjustmentIn(_Input):
    points: Annotated[int, msgspec.Meta(ge=-10_000_000, le=10_000_000)]
    note: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    client_key: Annotated[str, msgspec.Meta(min_length=8, max_length=80)]


class ReviewIn(_Input):
    note: Annotated[str, msgspec.Meta(max_length=300)] | None = None


class ConsumerOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    openid: str | None
    anonymous: bool
    balance: int
    pending: int
    claims: int
    created_at: datetime


class ConsumerPage(Page[ConsumerOut], kw_only=True):
    """One page of consumer entries."""

    items: list[ConsumerOut]


class DrawAuditOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    claim_id: uuid.UUID
    campaign_id: uuid.UUID
    seed: str
    roll: int
    tiers: list[dict[str, Any]]
    outcome: str
    prize_id: uuid.UUID | None
    recomputed_roll: int
    recomputed_prize_id: uuid.UUID | None
    consistent: bool


class PayoutOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    order_no: str
    consumer_id: uuid.UUID
    amount_cents: int
    source_type: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class PayoutPage(Page[PayoutOut], kw_only=True):
    """One page of payout entries."""

    items: list[PayoutOut]


class DailyStatsOut(msgspec.Struct, kw_only=True):
    day: date
    claims: int
    held: int
    points_issued: int
    redemptions: int
    points_redeemed: int


class CampaignBudgetOut(msgspec.Struct, kw_only=True):
    campaign_id: uuid.UUID
    name: str
    budget_points_left: int | None
    budget_claims_left: int | None


class StatsOut(msgspec.Struct, kw_only=True):
    days: list[DailyStatsOut]
    campaigns: list[CampaignBudgetOut]


class ExpiryOut(msgspec.Struct, kw_only=True):
    accounts: int
    points_expired: int
