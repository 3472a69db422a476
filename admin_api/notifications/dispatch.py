"""The delivery step's parts: claim due deliveries under a lease, send a webhook, record
outcomes (attempts, retry with backoff, dead letters) in chunks."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import structlog
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from admin_api.notifications.models import (
    STATUS_DEAD,
    STATUS_DELIVERED,
    STATUS_PENDING,
    DeliveryAttempt,
    NotificationDelivery,
    WebhookSubscription,
)
from admin_api.notifications.ports import (
    SendOutcome,
    WorkerStats,
    _Claimed,
)
from admin_api.notifications.signing import (
    SIGNATURE_HEADER,
    backoff_delay,
    signature_header,
)
from admin_api.notifications.worker_io import (
    envelope_body,
)
from kernel.addresses import AddressPolicy, literal_address
from kernel.db import utcnow
from kernel.outbox import OutboxEvent
from kernel.secretbox import SecretBox, SecretDecryptionError
from kernel.settings import Settings
from kernel.uow import session_scope

__all__ = ["claim_due", "record_in_chunks", "record_outcomes", "send_webhook"]

log = structlog.get_logger("admin_api.notifications.worker")  # the worker's own log name
RECORD_CHUNK = 200
ERROR_TEXT_MAX = 500


async def claim_due(
    session_factory: async_sessionmaker[AsyncSession],
    token: uuid.UUID,
    *,
    batch_size: int,
    lease: timedelta,
) -> list[_Claimed]:
    """Lease up to ``batch_size`` due deliveries to ``token`` (for ``lease``); load them."""
    D = NotificationDelivery
    async with session_scope(session_factory) as session:
        now = utcnow()
        due = (
            select(D.id)
            .where(D.status == STATUS_PENDING, D.next_attempt_at <= now)
            .order_by(D.next_attempt_at, D.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
        ids = (
            await session.scalars(
                update(D)
                .where(D.id.in_(due.scalar_subquery()))
                .values(lease_token=token, next_attempt_at=now + lease, attempts=D.attempts + 1)
                .returning(D.id)
                .execution_options(synchronize_session=False)
            )
        ).all()
        if not ids:
            return []
        rows = (await session.scalars(select(D).where(D.id.in_(ids)))).all()
        events = {
            e.id: e
            for e in await session.scalars(
                select(OutboxEvent).where(OutboxEvent.id.in_({r.event_id for r in rows}))
            )
        }
        sub_ids = {r.subscription_id for r in rows if r.subscription_id is not None}
        subscriptions = (
            {
                s.id: s
                for s in await session.scalars(
                    select(WebhookSubscription).where(WebhookSubscription.id.in_(sub_ids))
                )
            }
            if sub_ids
            else {}
        )
        return [
            _Claimed(
                delivery_id=r.id,
                channel=r.channel,
                target=r.target,
                attempt=r.attempts,
                event=events[r.event_id],
                subscription=subscriptions.get(r.subscription_id)
                if r.subscription_id is not None
                else None,
            )
            for r in rows
        ]


async def send_webhook(
    http: aiohttp.ClientSession,
    item: _Claimed,
    *,
    timeout_s: float,
    addresses: AddressPolicy,
    box: SecretBox,
) -> SendOutcome:
    """POST one signed envelope to its subscription's URL, if the address policy allows it.

    A literal IP in the URL is checked here (aiohttp connects to it without a resolver); a
    name is checked address by address by the session's ``PublicAddressResolver``.
    """
    subscription = item.subscription
    if subscription is None:
        return SendOutcome(False, None, "subscription deleted", 0)
    if not subscription.active:
        return SendOutcome(False, None, "subscription inactive", 0)
    ip = literal_address(urlsplit(subscription.url).hostname or "")
    refused = addresses.refusal(ip) if ip is not None else None
    if refused is not None:
        return SendOutcome(False, None, f"refused: {refused}"[:ERROR_TEXT_MAX], 0)
    try:
        secret = box.decrypt(subscription.secret)
    except SecretDecryptionError as exc:
        return SendOutcome(False, None, str(exc)[:ERROR_TEXT_MAX], 0)
    body = envelope_body(item.event)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature_header(secret, body),
        "Idempotency-Key": str(item.event.event_uid),
        "Scanguard-Event-Id": str(item.event.event_uid),
        "Scanguard-Event-Type": item.event.event_type,
        "Scanguard-Delivery-Id": str(item.delivery_id),
        "Scanguard-Attempt": str(item.attempt),
    }
    started = time.perf_counter()
    try:
        async with http.post(
            subscription.url, data=body, headers=headers, allow_redirects=False
        ) as response:
            status = response.status
            await response.read()  # drain, so the connection is reused
    except (aiohttp.ClientError, TimeoutError) as exc:
        latency = int((time.perf_counter() - started) * 1000)
        name = "Timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
        detail = str(exc) or f"no answer within {timeout_s} s"
        return SendOutcome(False, None, f"{name}: {detail}"[:ERROR_TEXT_MAX], latency)
    latency = int((time.perf_counter() - started) * 1000)
    if 200 <= status < 300:
        return SendOutcome(True, status, None, latency)
    return SendOutcome(False, status, f"HTTP {status}", latency)


async def record_in_chunks(
    outcomes: asyncio.Queue[tuple[_Claimed, SendOutcome] | None],
    record: Callable[[list[tuple[_Claimed, SendOutcome]]], Awaitable[None]],
) -> None:
    """Take outcomes off ``outcomes`` until ``None``, ``record`` them in chunks."""
    finished = False
    while not finished:
        first = await outcomes.get()
        if first is None:
            return
        chunk = [first]
        while not outcomes.empty() and len(chunk) < RECORD_CHUNK:
            following = outcomes.get_nowait()
            if following is None:
                finished = True
                break
            chunk.append(following)
        await record(chunk)


def _next_state(
    item: _Claimed, outcome: SendOutcome, settings: Settings, now: datetime
) -> dict[str, Any]:
    """The delivery's state after ``outcome``: delivered, dead, or pending with backoff."""
    state: dict[str, Any] = {
        "b_id": item.delivery_id,
        "b_status": STATUS_PENDING,
        "b_delivered_at": None,
        "b_next": now,
        "b_code": outcome.status_code,
        "b_error": outcome.error,
    }
    if outcome.ok:
        state.update(b_status=STATUS_DELIVERED, b_delivered_at=now)
    elif not outcome.retryable or item.attempt >= settings.notifications.webhook_max_attempts:
        state.update(b_status=STATUS_DEAD)
    else:
        delay = backoff_delay(
            item.attempt,
            base_s=settings.notifications.webhook_backoff_base_s,
            max_s=settings.notifications.webhook_backoff_max_s,
        )
        state.update(b_next=now + timedelta(seconds=delay))
    return state


async def record_outcomes(
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    stats: WorkerStats,
    chunk: list[tuple[_Claimed, SendOutcome]],
    token: uuid.UUID,
) -> None:
    """Write attempts and new delivery states of ``chunk`` in one transaction.

    A state is written only while the lease is still ours (``lease_token``): after a
    lease ran out another worker may own the delivery; the attempt is logged anyway.
    """
    now = utcnow()
    attempts: list[dict[str, Any]] = []
    states: list[dict[str, Any]] = []
    dead: list[_Claimed] = []
    for item, outcome in chunk:
        attempts.append(
            {
                "delivery_id": item.delivery_id,
                "attempt": item.attempt,
                "attempted_at": now,
                "status_code": outcome.status_code,
                "error": outcome.error,
                "latency_ms": outcome.latency_ms,
                "success": outcome.ok,
            }
        )
        state = _next_state(item, outcome, settings, now)
        if state["b_status"] == STATUS_DEAD:
            dead.append(item)
        states.append(state)
    table = NotificationDelivery.metadata.tables[NotificationDelivery.__tablename__]
    statement = (
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.lease_token == token)
        .values(
            status=bindparam("b_status"),
            delivered_at=bindparam("b_delivered_at"),
            next_attempt_at=bindparam("b_next"),
            last_status_code=bindparam("b_code"),
            last_error=bindparam("b_error"),
            lease_token=None,
        )
    )
    async with session_scope(session_factory) as session:
        await session.execute(
            insert(DeliveryAttempt.metadata.tables[DeliveryAttempt.__tablename__]), attempts
        )
        result = await session.execute(statement, states)
    matched = getattr(result, "rowcount", -1)
    if isinstance(matched, int) and 0 <= matched < len(chunk):
        stats.lost_leases += len(chunk) - matched  # another worker owns those now
    stats.attempts += len(chunk)
    ok = sum(1 for _, outcome in chunk if outcome.ok)
    stats.delivered += ok
    stats.failed_attempts += len(chunk) - ok
    stats.dead += len(dead)
    for item in dead:
        log.warning(
            "notifications.delivery.dead",
            delivery_id=item.delivery_id,
            event_type=item.event.event_type,
            channel=item.channel,
        )
