"""Bodies of the notifications API: webhook subscriptions, deliveries, inboxes, stats."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from admin_api.notifications.models import (
    ConsumerInboxEntry,
    DeliveryAttempt,
    DistributorInboxEntry,
    NotificationDelivery,
    WebhookSubscription,
)
from admin_api.notifications.services import PipelineStats
from kernel.pagination import Page

__all__ = [
    "DeliveryAttemptOut",
    "DeliveryDetailOut",
    "DeliveryOut",
    "DeliveryStatus",
    "InboxEntryOut",
    "MarkedReadOut",
    "PipelineStatsOut",
    "SubscriptionCreate",
    "SubscriptionCreatedOut",
    "SubscriptionOut",
    "SubscriptionUpdate",
]

DeliveryStatus = Literal["pending", "delivered", "dead"]
Channel = Literal["webhook", "wechat"]
Url = Annotated[str, Meta(min_length=1, max_length=2048)]
EventPattern = Annotated[str, Meta(min_length=1, max_length=100)]
EventTypes = Annotated[list[EventPattern], Meta(min_length=1, max_length=50)]
Description = Annotated[str, Meta(max_length=200)]


class _Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class SubscriptionCreate(_Input):
    url: Url
    event_types: EventTypes
    description: Description = ""
    active: bool = True
    distributor_id: uuid.UUID | None = None  # endpoint of this distributor: its events only


class SubscriptionUpdate(_Input):
    url: Url | UnsetType = UNSET
    event_types: EventTypes | UnsetType = UNSET
    description: Description | UnsetType = UNSET
    active: bool | UnsetType = UNSET


class SubscriptionOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    brand_id: uuid.UUID
    distributor_id: uuid.UUID | None
    url: str
    event_types: list[str]
    description: str
    active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, s: WebhookSubscription) -> SubscriptionOut:
        return cls(
            id=s.id,
            brand_id=s.brand_id,
            distributor_id=s.distributor_id,
            url=s.url,
            event_types=list(s.event_types),
            description=s.description,
            active=s.active,
            created_at=s.created_at,
            updated_at=s.updated_at,
        )


class SubscriptionPage(Page[SubscriptionOut], kw_only=True):
    """One page of subscription entries."""

    items: list[SubscriptionOut]


class SubscriptionCreatedOut(SubscriptionOut, kw_only=True):
    """As ``SubscriptionOut`` plus the signing ``secret``: shown only in this answer."""

    secret: str

    @classmethod
    def with_secret(cls, s: WebhookSubscription, secret: str) -> SubscriptionCreatedOut:
        """``s`` with its secret in clear (the stored column holds only its encryption)."""
        base = SubscriptionOut.of(s)
        return cls(**{f: getattr(base, f) for f in base.__struct_fields__}, secret=secret)


class DeliveryOut(msgspec.Struct, kw_only=True):
    id: int
    event_id: uuid.UUID
    event_type: str
    channel: str
    subscription_id: uuid.UUID | None
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, d: NotificationDelivery) -> DeliveryOut:
        return cls(
            id=d.id,
            event_id=d.event_uid,
            event_type=d.event_type,
            channel=d.channel,
            subscription_id=d.subscription_id,
            status=d.status,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at if d.status == "pending" else None,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            created_at=d.created_at,
            delivered_at=d.delivered_at,
        )


class DeliveryPage(Page[DeliveryOut], kw_only=True):
    """One page of delivery entries."""

    items: list[DeliveryOut]


class DeliveryAttemptOut(msgspec.Struct, kw_only=True):
    attempt: int
    attempted_at: datetime
    success: bool
    status_code: int | None
    error: str | None
    latency_ms: int

    @classmethod
    def of(cls, a: DeliveryAttempt) -> DeliveryAttemptOut:
        return cls(
            attempt=a.attempt,
            attempted_at=a.attempted_at,
            success=a.success,
            status_code=a.status_code,
            error=a.error,
            latency_ms=a.latency_ms,
        )


class DeliveryDetailOut(DeliveryOut, kw_only=True):
    attempt_log: list[DeliveryAttemptOut]


class InboxEntryOut(msgspec.Struct, kw_only=True):
    """One inbox entry (a distributor's or a consumer's)."""

    id: int
    event_id: uuid.UUID
    event_type: str
    payload: dict[str, Any]
    created_at: datetime
    read_at: datetime | None

    @classmethod
    def of(cls, e: DistributorInboxEntry | ConsumerInboxEntry) -> InboxEntryOut:
        return cls(
            id=e.id,
            event_id=e.event_uid,
            event_type=e.event_type,
            payload=e.payload,
            created_at=e.created_at,
            read_at=e.read_at,
        )


class InboxEntryPage(Page[InboxEntryOut], kw_only=True):
    """One page of inbox entry entries."""

    items: list[InboxEntryOut]


class MarkedReadOut(msgspec.Struct, kw_only=True):
    marked: int


class PipelineStatsOut(msgspec.Struct, kw_only=True):
    deliveries: dict[str, int]
    due_now: int
    oldest_pending_age_s: float | None
    events_not_fanned_out: int | None
    worker: dict[str, Any] | None  # this process's in-process worker, if it runs one

    @classmethod
    def of(cls, s: PipelineStats, worker: dict[str, Any] | None) -> PipelineStatsOut:
        return cls(
            deliveries=s.deliveries,
            due_now=s.due_now,
            oldest_pending_age_s=s.oldest_pending_age_s,
            events_not_fanned_out=s.events_not_fanned_out,
            worker=worker,
        )
