"""What the notification worker is wired to (audiences, the WeChat sender) and what it reports."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from admin_api.notifications.models import WebhookSubscription
from kernel.outbox import OutboxEvent

__all__ = ["AudienceSource", "ConsumerTarget", "SendOutcome", "WeChatSender", "WorkerStats"]


class ConsumerTarget(Protocol):
    """One consumer to notify (what ``recall_consumer_targets`` yields)."""

    @property
    def key(self) -> str: ...
    @property
    def device_hash(self) -> str | None: ...
    @property
    def wechat_openid(self) -> str | None: ...


class AudienceSource(Protocol):
    """Who beyond the payload's own addressees hears about an event (e.g. a recall's)."""

    async def distributor_page(
        self, session: AsyncSession, event: OutboxEvent, *, after: str | None, limit: int
    ) -> list[uuid.UUID]:
        """Distributors ordered by id, ids > ``after``."""
        ...

    async def consumer_page(
        self, session: AsyncSession, event: OutboxEvent, *, after: str | None, limit: int
    ) -> Sequence[ConsumerTarget]:
        """Consumers ordered by ``key``, keys > ``after``."""
        ...


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What one attempt achieved."""

    ok: bool
    status_code: int | None
    error: str | None
    latency_ms: int
    retryable: bool = True  # False: dead-letter at once (e.g. WeChat: user not subscribed)


class WeChatSender(Protocol):
    """Sends a consumer's WeChat subscribe message for an event."""

    async def send(self, openid: str, event: OutboxEvent) -> SendOutcome: ...
    async def aclose(self) -> None: ...


@dataclass(slots=True)
class WorkerStats:
    """Counters of this process's worker (exposed by the admin stats endpoint)."""

    events_fanned_out: int = 0
    deliveries_created: int = 0
    attempts: int = 0
    delivered: int = 0
    failed_attempts: int = 0
    dead: int = 0
    lost_leases: int = 0
    started_at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class _Claimed:
    delivery_id: int
    channel: str
    target: str
    attempt: int
    event: OutboxEvent
    subscription: WebhookSubscription | None
