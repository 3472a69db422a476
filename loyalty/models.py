"""Tables owned by loyalty: consumers, accounts and the points ledger, campaigns, claims,
prizes and draws, the redemption catalogue, payouts, PIN failures and distributor premises.

Exactly-once rules live in the database: one claim per code (``uq`` on ``code_id``), one
ledger entry per idempotency key, one draw per claim, one redemption per (consumer, client
key), one payout per order number; stock and budget counters carry CHECK constraints so that
even a buggy caller cannot oversell.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kernel.db import Base, BigIntPK, UUIDPrimaryKey, utcnow

__all__ = [
    "Account",
    "Campaign",
    "CatalogueItem",
    "Claim",
    "Consumer",
    "Draw",
    "LedgerEntry",
    "Payout",
    "PinFailure",
    "Premises",
    "Prize",
    "Redemption",
]


class Consumer(UUIDPrimaryKey, Base):
    """A consumer: a WeChat user (openid) or an anonymous browser (device hash), or both once
    bound. ``merged_into`` points at the consumer that took over this one's points."""

    __tablename__ = "loyalty_consumers"

    openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    unionid: Mapped[str | None] = mapped_column(String(64))
    device_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    merged_into: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Account(Base):
    """A consumer's points at one brand: the running sums of the ledger, kept in the same
    transaction as each entry (the ledger is the truth; these make checks atomic)."""

    __tablename__ = "loyalty_accounts"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        CheckConstraint("pending >= 0", name="pending_not_negative"),
    )

    consumer_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    brand_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, index=True)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    pending: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerEntry(Base):
    """Append-only points movements. ``bucket`` is available or pending (held for review)."""

    __tablename__ = "loyalty_ledger"
    __table_args__ = (
        Index("ix_loyalty_ledger_account", "consumer_id", "brand_id", "id"),
        Index("ix_loyalty_ledger_brand_created", "brand_id", "created_at"),
        CheckConstraint("bucket IN ('available', 'pending')", name="bucket_known"),
        CheckConstraint("delta <> 0", name="delta_not_zero"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    consumer_id: Mapped[uuid.UUID]
    brand_id: Mapped[uuid.UUID]
    bucket: Mapped[str] = mapped_column(String(10))
    delta: Mapped[int] = mapped_column(BigInteger)
    # claim | hold | release | reject | redemption | expiry | adjustment | merge_in | merge_out
    reason: Mapped[str] = mapped_column(String(20))
    ref_type: Mapped[str] = mapped_column(String(20))  # code | claim | redemption | ledger...
    ref_id: Mapped[str] = mapped_column(String(64))
    campaign_id: Mapped[uuid.UUID | None]
    idem_key: Mapped[str] = mapped_column(String(120), unique=True)
    expires_at: Mapped[datetime | None] = mapped_column(index=True)  # credits only
    note: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Campaign(UUIDPrimaryKey, Base):
    """Points for claims of a brand's codes in a window (``points`` per claim, or a
    ``multiplier`` on top of the points campaign), with a budget and per-consumer caps."""

    __tablename__ = "loyalty_campaigns"
    __table_args__ = (
        Index("ix_loyalty_campaigns_brand_window", "brand_id", "starts_at", "ends_at"),
        CheckConstraint("kind IN ('points', 'multiplier')", name="kind_known"),
        CheckConstraint(
            "budget_points IS NULL OR spent_points <= budget_points", name="points_budget"
        ),
        CheckConstraint(
            "budget_claims IS NULL OR spent_claims <= budget_claims", name="claims_budget"
        ),
        CheckConstraint("spent_points >= 0 AND spent_claims >= 0", name="spent_not_negative"),
    )

    brand_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(12))
    points: Mapped[int | None] = mapped_column(Integer)
    multiplier: Mapped[float | None] = mapped_column(Float)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    product_ids: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every product
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: everywhere
    budget_points: Mapped[int | None] = mapped_column(BigInteger)
    budget_claims: Mapped[int | None] = mapped_column(BigInteger)
    spent_points: Mapped[int] = mapped_column(BigInteger, default=0)
    spent_claims: Mapped[int] = mapped_column(BigInteger, default=0)
    daily_cap_per_consumer: Mapped[int | None] = mapped_column(Integer)
    total_cap_per_consumer: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Claim(UUIDPrimaryKey, Base):
    """A code's one and only claim (unique ``code_id``), credited or held for review."""

    __tablename__ = "loyalty_claims"
    __table_args__ = (
        Index("ix_loyalty_claims_consumer_created", "consumer_id", "created_at"),
        Index("ix_loyalty_claims_brand_status_created", "brand_id", "status", "created_at"),
        Index("ix_loyalty_claims_ip_created", "ip", "created_at"),
        Index("ix_loyalty_claims_device_created", "device_hash", "created_at"),
        Index("ix_loyalty_claims_campaign_consumer", "campaign_id", "consumer_id", "created_at"),
        Index("ix_loyalty_claims_group", "consumer_id", "group_key", "created_at"),
        CheckConstraint("status IN ('credited', 'held', 'rejected')", name="status_known"),
    )

    code_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    brand_id: Mapped[uuid.UUID]
    consumer_id: Mapped[uuid.UUID]
    product_id: Mapped[uuid.UUID]
    roll_id: Mapped[uuid.UUID]
    group_key: Mapped[str] = mapped_column(String(80))  # shipment / batch / roll of the code
    campaign_id: Mapped[uuid.UUID | None]  # set in the claim's transaction, once picked
    bonus_campaign_id: Mapped[uuid.UUID | None]
    base_points: Mapped[int] = mapped_column(Integer)
    bonus_points: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10))
    hold_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    device_hash: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(45))
    region: Mapped[str | None] = mapped_column(String(10))
    scan_uid: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    reviewed_at: Mapped[datetime | None]
    reviewed_by: Mapped[uuid.UUID | None]

    @property
    def points(self) -> int:
        return self.base_points + self.bonus_points


class Prize(UUIDPrimaryKey, Base):
    """A prize tier of a campaign's draw: probability in parts per million, finite stock."""

    __tablename__ = "loyalty_prizes"
    __table_args__ = (
        CheckConstraint("awarded <= stock AND awarded >= 0", name="stock_not_exceeded"),
        CheckConstraint("probability_ppm BETWEEN 0 AND 1000000", name="probability_range"),
        CheckConstraint("kind IN ('goods', 'red_envelope')", name="kind_known"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(index=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(200))
    probability_ppm: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int] = mapped_column(Integer)
    awarded: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(16), default="goods")
    amount_cents: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Draw(UUIDPrimaryKey, Base):
    """One prize draw per credited claim, with everything an auditor needs to recompute it:
    ``roll = int(sha256(f"{seed}:{claim_id}")[:8]) % 1_000_000`` against ``tiers``."""

    __tablename__ = "loyalty_draws"

    claim_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    brand_id: Mapped[uuid.UUID] = mapped_column(index=True)
    campaign_id: Mapped[uuid.UUID]
    consumer_id: Mapped[uuid.UUID] = mapped_column(index=True)
    seed: Mapped[str] = mapped_column(String(64))
    roll: Mapped[int] = mapped_column(Integer)
    tiers: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    prize_id: Mapped[uuid.UUID | None]
    outcome: Mapped[str] = mapped_column(String(16))  # won | lost | out_of_stock
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CatalogueItem(UUIDPrimaryKey, Base):
    """Something consumers buy with points."""

    __tablename__ = "loyalty_catalogue_items"
    __table_args__ = (
        CheckConstraint("redeemed <= stock AND redeemed >= 0", name="stock_not_exceeded"),
        CheckConstraint("cost_points > 0", name="cost_positive"),
        CheckConstraint("kind IN ('goods', 'red_envelope')", name="kind_known"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(200))
    cost_points: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int] = mapped_column(Integer)
    redeemed: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(16), default="goods")
    amount_cents: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Redemption(UUIDPrimaryKey, Base):
    __tablename__ = "loyalty_redemptions"
    __table_args__ = (
        UniqueConstraint("consumer_id", "client_key"),
        Index("ix_loyalty_redemptions_brand_created", "brand_id", "created_at"),
    )

    brand_id: Mapped[uuid.UUID]
    consumer_id: Mapped[uuid.UUID]
    item_id: Mapped[uuid.UUID]
    client_key: Mapped[str] = mapped_column(String(100))
    cost_points: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Payout(UUIDPrimaryKey, Base):
    """A cash payout to an external payment platform, idempotent by ``order_no``."""

    __tablename__ = "loyalty_payouts"
    __table_args__ = (
        Index("ix_loyalty_payouts_status_next", "status", "next_attempt_at"),
        CheckConstraint("status IN ('queued', 'sent', 'failed')", name="status_known"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(index=True)
    consumer_id: Mapped[uuid.UUID] = mapped_column(index=True)
    order_no: Mapped[str] = mapped_column(String(64), unique=True)
    openid: Mapped[str | None] = mapped_column(String(64))
    amount_cents: Mapped[int] = mapped_column(Integer)
    source_type: Mapped[str] = mapped_column(String(20))  # draw | redemption
    source_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(300))
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class PinFailure(Base):
    """A wrong scratch-off PIN: the durable side of the PIN rate limit (Redis counts first)."""

    __tablename__ = "loyalty_pin_failures"
    __table_args__ = (
        Index("ix_loyalty_pin_failures_consumer_at", "consumer_id", "at"),
        Index("ix_loyalty_pin_failures_code_at", "code_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    consumer_id: Mapped[uuid.UUID]
    code_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Premises(UUIDPrimaryKey, Base):
    """A distributor's site (circle): claims located inside are held for review."""

    __tablename__ = "loyalty_premises"

    brand_id: Mapped[uuid.UUID] = mapped_column(index=True)
    distributor_id: Mapped[uuid.UUID | None]
    name: Mapped[str] = mapped_column(String(200))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    radius_m: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
