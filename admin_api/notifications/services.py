"""Webhook subscriptions, the delivery log, replay and pipeline statistics (brand scoped).

Services flush, never commit; every admin write is audited in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from admin_api.notifications.models import (
    STATUS_DEAD,
    STATUS_PENDING,
    DeliveryAttempt,
    NotificationDelivery,
    NotificationFanout,
    WebhookSubscription,
)
from admin_api.notifications.signing import EVENT_PATTERN_RE, new_secret
from channel_control.distributors import services as channel
from kernel.addresses import AddressPolicy, literal_address
from kernel.audit import record_audit
from kernel.auth import Principal
from kernel.db import utcnow
from kernel.errors import Conflict, InvalidInput, NotFound
from kernel.outbox import OutboxEvent
from kernel.pagination import fetch_page
from kernel.secretbox import SecretBox
from kernel.settings import Settings

__all__ = [
    "MAX_EVENT_TYPES",
    "PipelineStats",
    "WebhookPolicy",
    "create_subscription",
    "delete_subscription",
    "delivery_attempts",
    "get_delivery",
    "get_subscription",
    "list_deliveries",
    "list_subscriptions",
    "pipeline_stats",
    "reencrypt_secrets",
    "replay_delivery",
    "rotate_secret",
    "update_subscription",
    "validate_event_types",
    "validate_webhook_url",
]

MAX_EVENT_TYPES = 50
MAX_URL_LENGTH = 2048


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    """Where webhooks may point (kernel.addresses) and how their secrets are stored."""

    addresses: AddressPolicy
    box: SecretBox

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookPolicy:
        return cls(AddressPolicy.from_settings(settings), SecretBox.from_settings(settings))


def validate_webhook_url(url: str, *, addresses: AddressPolicy) -> str:
    """The URL, checked: https to a host the address policy allows (kernel.addresses).

    Plain http is accepted only to a literal address of the explicit allow-list (the local
    receivers of tests): anything else would send signed payloads in clear.
    """
    value = url.strip()
    if not value or len(value) > MAX_URL_LENGTH:
        raise InvalidInput(
            f"url must be 1..{MAX_URL_LENGTH} characters", code="invalid_url", field="url"
        )
    try:
        parts = urlsplit(value)
        host = (parts.hostname or "").lower()
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidInput(
            f"url is not a valid URL: {exc}", code="invalid_url", field="url"
        ) from exc
    if parts.scheme not in ("https", "http") or not host:
        raise InvalidInput("url must be an absolute https URL", code="invalid_url", field="url")
    if parts.username or parts.password:
        raise InvalidInput(
            "url must not contain credentials (the payload is signed instead)",
            code="invalid_url",
            field="url",
        )
    if parts.fragment:
        raise InvalidInput("url must not contain a fragment", code="invalid_url", field="url")
    refused = addresses.host_refusal(host)
    if refused is not None:
        raise InvalidInput(
            f"url must point to a public host: {refused}",
            code="private_address_url",
            field="url",
        )
    ip = literal_address(host)
    if parts.scheme == "http" and (ip is None or not addresses.is_allow_listed(ip)):
        raise InvalidInput(
            "url must use https (plain http only to an address of "
            "SCANGUARD_WEBHOOK_ALLOWED_NETWORKS)",
            code="insecure_url",
            field="url",
        )
    return value


def validate_event_types(patterns: Sequence[str]) -> list[str]:
    """Distinct patterns in given order: ``recall.*``, ``counterfeit.spike``, ``*``..."""
    if not patterns:
        raise InvalidInput(
            "event_types needs at least one pattern",
            code="invalid_event_types",
            field="event_types",
        )
    if len(patterns) > MAX_EVENT_TYPES:
        raise InvalidInput(
            f"event_types takes at most {MAX_EVENT_TYPES} patterns",
            code="invalid_event_types",
            field="event_types",
        )
    seen: list[str] = []
    for i, pattern in enumerate(patterns):
        if len(pattern) > 100 or not EVENT_PATTERN_RE.match(pattern):
            raise InvalidInput(
                f"event_types[{i}] {pattern[:40]!r} is not an event type or a prefix pattern "
                "(e.g. recall.started, recall.*, *)",
                code="invalid_event_types",
                field=f"event_types.{i}",
            )
        if pattern not in seen:
            seen.append(pattern)
    return seen


# ---------------------------------------------------------------------------------------------
# Subscriptions
# ---------------------------------------------------------------------------------------------
def _subscription_not_found() -> NotFound:
    return NotFound("webhook subscription not found", code="subscription_not_found")


async def get_subscription(
    session: AsyncSession, brand_id: uuid.UUID, subscription_id: uuid.UUID
) -> WebhookSubscription:
    """The brand's subscription; another brand's is 404 ``subscription_not_found``."""
    found = await session.scalar(
        select(WebhookSubscription).where(
            WebhookSubscription.id == subscription_id, WebhookSubscription.brand_id == brand_id
        )
    )
    if found is None:
        raise _subscription_not_found()
    return found


async def create_subscription(
    session: AsyncSession,
    actor: Principal | None,
    brand_id: uuid.UUID,
    *,
    url: str,
    event_types: Sequence[str],
    policy: WebhookPolicy,
    description: str = "",
    active: bool = True,
    distributor_id: uuid.UUID | None = None,
) -> tuple[WebhookSubscription, str]:
    """Create a subscription with a fresh secret; returns it and the secret in clear (which
    the caller shows once: only its encryption is stored)."""
    checked_url = validate_webhook_url(url, addresses=policy.addresses)
    patterns = validate_event_types(event_types)
    if distributor_id is not None:
        try:
            await channel.get_distributor(session, brand_id, distributor_id)
        except NotFound as exc:
            raise NotFound(
                "distributor not found", code="distributor_not_found", field="distributor_id"
            ) from exc
    now = utcnow()
    secret = new_secret()
    subscription = WebhookSubscription(
        id=uuid.uuid4(),
        brand_id=brand_id,
        distributor_id=distributor_id,
        url=checked_url,
        event_types=patterns,
        description=description,
        secret=policy.box.encrypt(secret),
        active=active,
        created_at=now,
        updated_at=now,
    )
    session.add(subscription)
    record_audit(
        session,
        actor,
        "webhook.subscription.create",
        target_type="webhook_subscription",
        target_id=subscription.id,
        brand_id=brand_id,
        details={
            "url": checked_url,
            "event_types": patterns,
            "distributor_id": str(distributor_id),
        },
    )
    await session.flush()
    return subscription, secret


async def list_subscriptions(
    session: AsyncSession,
    brand_id: uuid.UUID,
    *,
    active: bool | None,
    limit: int,
    offset: int,
) -> tuple[list[WebhookSubscription], int]:
    """The brand's subscriptions, oldest first."""
    query: Select[Any] = (
        select(WebhookSubscription)
        .where(WebhookSubscription.brand_id == brand_id)
        .order_by(WebhookSubscription.created_at, WebhookSubscription.id)
    )
    if active is not None:
        query = query.where(WebhookSubscription.active == active)
    return await fetch_page(session, query, limit=limit, offset=offset)


async def update_subscription(
    session: AsyncSession,
    actor: Principal | None,
    brand_id: uuid.UUID,
    subscription_id: uuid.UUID,
    *,
    policy: WebhookPolicy,
    changes: dict[str, Any],
) -> WebhookSubscription:
    """Change url, event_types, description or active (only the keys in ``changes``)."""
    subscription = await get_subscription(session, brand_id, subscription_id)
    if "url" in changes:
        subscription.url = validate_webhook_url(str(changes["url"]), addresses=policy.addresses)
    if "event_types" in changes:
        subscription.event_types = validate_event_types(list(changes["event_types"]))
    if "description" in changes:
        subscription.description = str(changes["description"])
    if "active" in changes:
        subscription.active = bool(changes["active"])
    subscription.updated_at = utcnow()
    record_audit(
        session,
        actor,
        "webhook.subscription.update",
        target_type="webhook_subscription",
        target_id=subscription.id,
        brand_id=brand_id,
        details={k: v for k, v in changes.items()},
    )
    await session.flush()
    return subscription


async def rotate_secret(
    session: AsyncSession,
    actor: Principal | None,
    brand_id: uuid.UUID,
    subscription_id: uuid.UUID,
    *,
    box: SecretBox,
) -> tuple[WebhookSubscription, str]:
    """Replace the signing secret (the new one, returned in clear, is shown once; the old one
    stops at once)."""
    subscription = await get_subscription(session, brand_id, subscription_id)
    secret = new_secret()
    subscription.secret = box.encrypt(secret)
    subscription.updated_at = utcnow()
    record_audit(
        session,
        actor,
        "webhook.subscription.rotate_secret",
        target_type="webhook_subscription",
        target_id=subscription.id,
        brand_id=brand_id,
    )
    await session.flush()
    return subscription, secret


async def reencrypt_secrets(session: AsyncSession, box: SecretBox) -> int:
    """Every stored webhook secret under the newest key of ``box`` (plaintext ones too);
    returns how many. After it, older keys can leave ``SCANGUARD_SECRETS_KEY``."""
    rows = (await session.scalars(select(WebhookSubscription))).all()
    for subscription in rows:
        subscription.secret = box.reencrypt(subscription.secret)
    await session.flush()
    return len(rows)


async def delete_subscription(
    session: AsyncSession, actor: Principal | None, brand_id: uuid.UUID, subscription_id: uuid.UUID
) -> None:
    """Delete a subscription; its pending deliveries become dead (the log is kept)."""
    subscription = await get_subscription(session, brand_id, subscription_id)
    await session.execute(
        update(NotificationDelivery)
        .where(
            NotificationDelivery.subscription_id == subscription.id,
            NotificationDelivery.status == STATUS_PENDING,
        )
        .values(status=STATUS_DEAD, last_error="subscription deleted", lease_token=None)
    )
    await session.delete(subscription)
    record_audit(
        session,
        actor,
        "webhook.subscription.delete",
        target_type="webhook_subscription",
        target_id=subscription_id,
        brand_id=brand_id,
        details={"url": subscription.url},
    )
    await session.flush()


# ---------------------------------------------------------------------------------------------
# Delivery log and replay
# ---------------------------------------------------------------------------------------------
def _delivery_not_found() -> NotFound:
    return NotFound("delivery not found", code="delivery_not_found")


async def list_deliveries(
    session: AsyncSession,
    brand_id: uuid.UUID,
    *,
    subscription_id: uuid.UUID | None,
    status: str | None,
    event_type: str | None,
    channel: str | None,
    limit: int,
    offset: int,
) -> tuple[list[NotificationDelivery], int]:
    """The brand's deliveries, newest first, filtered."""
    query: Select[Any] = (
        select(NotificationDelivery)
        .where(NotificationDelivery.brand_id == brand_id)
        .order_by(NotificationDelivery.id.desc())
    )
    if subscription_id is not None:
        query = query.where(NotificationDelivery.subscription_id == subscription_id)
    if status is not None:
        query = query.where(NotificationDelivery.status == status)
    if event_type is not None:
        query = query.where(NotificationDelivery.event_type == event_type)
    if channel is not None:
        query = query.where(NotificationDelivery.channel == channel)
    return await fetch_page(session, query, limit=limit, offset=offset)


async def get_delivery(
    session: AsyncSession, brand_id: uuid.UUID, delivery_id: int
) -> NotificationDelivery:
    """The brand's delivery; another brand's is 404 ``delivery_not_found``."""
    found = await session.scalar(
        select(NotificationDelivery).where(
            NotificationDelivery.id == delivery_id, NotificationDelivery.brand_id == brand_id
        )
    )
    if found is None:
        raise _delivery_not_found()
    return found


async def delivery_attempts(session: AsyncSession, delivery_id: int) -> list[DeliveryAttempt]:
    """Every attempt of one delivery, oldest first (call after ``get_delivery`` scoped it)."""
    rows = await session.scalars(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_id == delivery_id)
        .order_by(DeliveryAttempt.id)
    )
    return list(rows)


async def replay_delivery(
    session: AsyncSession, actor: Principal | None, brand_id: uuid.UUID, delivery_id: int
) -> NotificationDelivery:
    """Send a dead or delivered delivery again, now, with a fresh attempt budget.

    The event id (and so the ``Idempotency-Key``) is unchanged: a receiver that already
    processed it may acknowledge without processing again.
    """
    delivery = await get_delivery(session, brand_id, delivery_id)
    if delivery.status == STATUS_PENDING:
        raise Conflict(
            "the delivery is still pending; it is retried automatically",
            code="delivery_pending",
        )
    previous = delivery.status
    delivery.status = STATUS_PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    delivery.lease_token = None
    record_audit(
        session,
        actor,
        "webhook.delivery.replay",
        target_type="notification_delivery",
        target_id=delivery.id,
        brand_id=brand_id,
        details={"previous_status": previous, "event_uid": str(delivery.event_uid)},
    )
    await session.flush()
    return delivery


@dataclass(frozen=True, slots=True)
class PipelineStats:
    """Counts for monitoring the pipeline (one brand, or everything for ``brand_id=None``)."""

    deliveries: dict[str, int]
    due_now: int
    oldest_pending_age_s: float | None
    events_not_fanned_out: int | None  # platform-wide only


async def pipeline_stats(session: AsyncSession, brand_id: uuid.UUID | None) -> PipelineStats:
    """Deliveries by status, how many are due, the oldest pending one's age, outbox backlog."""
    scope = [] if brand_id is None else [NotificationDelivery.brand_id == brand_id]
    rows = await session.execute(
        select(NotificationDelivery.status, func.count())
        .where(*scope)
        .group_by(NotificationDelivery.status)
    )
    counts = {"pending": 0, "delivered": 0, "dead": 0}
    counts.update({str(status): int(n) for status, n in rows.all()})
    now = utcnow()
    due = await session.scalar(
        select(func.count()).where(
            *scope,
            NotificationDelivery.status == STATUS_PENDING,
            NotificationDelivery.next_attempt_at <= now,
        )
    )
    oldest = await session.scalar(
        select(func.min(NotificationDelivery.created_at)).where(
            *scope, NotificationDelivery.status == STATUS_PENDING
        )
    )
    backlog: int | None = None
    if brand_id is None:
        newest_seen = await session.scalar(select(func.max(NotificationFanout.event_id)))
        unfinished = await session.scalar(
            select(func.count()).where(NotificationFanout.done.is_(False))
        )
        unseen = await session.scalar(
            select(func.count()).where(OutboxEvent.id > (newest_seen or 0))
        )
        backlog = int(unfinished or 0) + int(unseen or 0)
    return PipelineStats(
        deliveries=counts,
        due_now=int(due or 0),
        oldest_pending_age_s=(now - oldest).total_seconds() if oldest is not None else None,
        events_not_fanned_out=backlog,
    )
