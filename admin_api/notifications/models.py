"""Notification tables: webhook subscriptions, fan-out progress, deliveries, attempts, inboxes.

``outbox_events`` (kernel.outbox) stays append-only; everything the delivery worker learns
about an event lives here. No foreign keys to other domains' tables (ids are stored).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kernel.db import Base, BigIntPK, UUIDPrimaryKey, utcnow

__all__ = [
    "CHANNEL_WEBHOOK",
    "CHANNEL_WECHAT",
    "STATUS_DEAD",
    "STATUS_DELIVERED",
    "STATUS_PENDING",
    "ConsumerInboxEntry",
    "DeliveryAttempt",
    "DistributorInboxEntry",
    "NotificationDelivery",
    "NotificationFanout",
    "WebhookSubscription",
]

CHANNEL_WEBHOOK = "webhook"
CHANNEL_WECHAT = "wechat"
STATUS_PENDING = "pending"
STATUS_DELIVERED = "delivered"
STATUS_DEAD = "dead"


class WebhookSubscription(UUIDPrimaryKey, Base):
    """A brand's HTTPS endpoint for some event types (optionally on behalf of one distributor)."""

    __tablename__ = "webhook_subscriptions"

    brand_id: Mapped[uuid.UUID] = mapped_column(index=True)
    # Set: the endpoint belongs to this distributor and receives only events addressed to it.
    distributor_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    url: Mapped[str] = mapped_column(String(2048))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str] = mapped_column(String(200), default="")
    # Encrypted (kernel.secretbox, ``enc:v1:`` + Fernet token): signing needs it back, a
    # database dump must not hand it out. The clear value is shown once, at creation.
    secret: Mapped[str] = mapped_column(String(400))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationFanout(Base):
    """Fan-out progress of one outbox event (its audience is expanded page by page)."""

    __tablename__ = "notification_fanouts"

    event_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    done: Mapped[bool] = mapped_column(default=False)
    # Where audience expansion resumes: {"phase": ..., "after": ...}; None = not started.
    cursor: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    deliveries: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_notification_fanouts_pending", "done", "event_id"),)


class NotificationDelivery(Base):
    """One event to one external endpoint (a webhook subscription or a WeChat user)."""

    __tablename__ = "notification_deliveries"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(BigInteger, index=True)
    event_uid: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(String(100))
    brand_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    channel: Mapped[str] = mapped_column(String(20))
    # The subscription id (webhook) or the openid (wechat).
    target: Mapped[str] = mapped_column(String(200))
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(20), default=STATUS_PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    # Pending: not before this time. While a worker holds it: the end of its lease.
    next_attempt_at: Mapped[datetime]
    lease_token: Mapped[uuid.UUID | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("event_id", "channel", "target"),
        Index("ix_notification_deliveries_due", "status", "next_attempt_at"),
    )


class DeliveryAttempt(Base):
    """One try of a delivery: what the endpoint answered and how long it took."""

    __tablename__ = "notification_delivery_attempts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(BigInteger, index=True)
    attempt: Mapped[int]
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(500))
    latency_ms: Mapped[int]
    success: Mapped[bool]


class _InboxEntry:
    """Columns every inbox shares: which event, what it said, when it was read."""

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    brand_id: Mapped[uuid.UUID]
    event_id: Mapped[int] = mapped_column(BigInteger)
    event_uid: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]


class DistributorInboxEntry(_InboxEntry, Base):
    """A notification in a distributor's API inbox."""

    __tablename__ = "distributor_inbox"

    distributor_id: Mapped[uuid.UUID]

    __table_args__ = (
        UniqueConstraint("event_id", "distributor_id"),
        Index("ix_distributor_inbox_owner", "distributor_id", "id"),
    )


class ConsumerInboxEntry(_InboxEntry, Base):
    """A notification in a web consumer's in-app inbox (keyed by the gateway's device hash)."""

    __tablename__ = "consumer_inbox"

    device_hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("event_id", "device_hash"),
        Index("ix_consumer_inbox_owner", "device_hash", "id"),
    )
