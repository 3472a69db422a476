"""The outbox delivery worker: outbox events → fan-out → deliveries → webhooks / WeChat.

One loop, three steps, each its own short transaction:

1. **Discover** new ``outbox_events`` (by id, anti-joined with ``notification_fanouts``) and
   record a fan-out row for each (``ON CONFLICT DO NOTHING``: several workers may race).
2. **Fan out**: claim unfinished fan-outs (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and
   expand one audience page each: webhook deliveries for matching subscriptions, distributor
   and consumer inbox entries (written directly: an inbox is our own table), WeChat
   deliveries. Large audiences (a recall's consumers) go page by page with a keyset cursor:
   nothing is loaded whole into memory.
3. **Deliver**: claim due deliveries with one ``UPDATE … WHERE id IN (SELECT … FOR UPDATE
   SKIP LOCKED) RETURNING`` that stamps a lease token and pushes ``next_attempt_at`` to the
   end of a lease; send outside any transaction; record the outcome only if the lease is
   still ours. A worker killed mid-send leaves the delivery to be retried when its lease ends
   (at-least-once on the wire; the ``Idempotency-Key`` header makes it exactly-once in effect).

On SQLite (the embedded default) run one worker: writers are serialised by the database, so a
second one is safe but only adds lock waits.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import structlog
from sqlalchemy import exists, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from admin_api.notifications.dispatch import (
    claim_due,
    record_in_chunks,
    record_outcomes,
    send_webhook,
)
from admin_api.notifications.models import (
    CHANNEL_WEBHOOK,
    CHANNEL_WECHAT,
    STATUS_PENDING,
    NotificationFanout,
    WebhookSubscription,
)
from admin_api.notifications.ports import (
    AudienceSource,
    ConsumerTarget,
    SendOutcome,
    WeChatSender,
    WorkerStats,
    _Claimed,
)
from admin_api.notifications.signing import (
    pattern_matches,
)
from admin_api.notifications.worker_io import (
    PublicAddressResolver,
    _addressed_distributors,
    _FanoutRows,
    _insert_ignoring_duplicates,
    envelope_body,
)
from kernel.addresses import AddressPolicy
from kernel.db import utcnow
from kernel.outbox import OutboxEvent
from kernel.runtime import Runtime
from kernel.secretbox import SecretBox
from kernel.uow import session_scope

__all__ = [
    "AudienceSource",
    "ConsumerTarget",
    "NotificationWorker",
    "PublicAddressResolver",
    "SendOutcome",
    "WorkerStats",
    "envelope_body",
]

log = structlog.get_logger("admin_api.notifications.worker")

# An event id below the newest one fanned out this long ago is assumed committed or gone: the
# discovery query starts there instead of at id 0 (an emitting transaction open longer than
# this would be missed; see docs/notifications.md).
GAP_WINDOW = timedelta(minutes=5)
AUDIENCE_PAGE = 500
DISCOVER_BATCH = 500
FANOUT_BATCH = 100


class NotificationWorker:
    """Moves outbox events to their receivers. ``run`` loops until ``stop`` is set."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        http: aiohttp.ClientSession | None = None,
        audiences: Mapping[str, AudienceSource] | None = None,
        wechat: WeChatSender | None = None,
        concurrency: int = 16,
        batch_size: int = 100,
    ) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self._own_http = http is None
        self._http = http
        self.audiences = dict(audiences or {})
        self.wechat = wechat
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.stats = WorkerStats()
        self._wake = asyncio.Event()
        self.addresses = AddressPolicy.from_settings(self.settings)
        self.box = SecretBox.from_settings(self.settings)

    # ------------------------------------------------------------------------------------
    # Loop
    # ------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set; the step in progress finishes first (graceful)."""
        log.info("notifications.worker.started", concurrency=self.concurrency)
        try:
            while not stop.is_set():
                try:
                    busy = await self.step()
                except (DBAPIError, OSError) as exc:  # database briefly unavailable or locked
                    log.warning("notifications.worker.step_failed", error=repr(exc)[:200])
                    busy = False
                except Exception:  # one bad event must not stop all delivery: log, go on
                    log.exception("notifications.worker.step_crashed")
                    busy = False
                if busy:
                    continue
                await self._idle(stop)
        finally:
            log.info("notifications.worker.stopped", **self.snapshot())

    async def _idle(self, stop: asyncio.Event) -> None:
        self._wake.clear()
        stop_wait = asyncio.ensure_future(stop.wait())
        wake_wait = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait(
                {stop_wait, wake_wait},
                timeout=self.settings.notifications.outbox_poll_interval_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            stop_wait.cancel()
            wake_wait.cancel()

    def wake(self) -> None:
        """Skip the rest of the current idle wait (e.g. after a replay)."""
        self._wake.set()

    @property
    def http(self) -> aiohttp.ClientSession:
        """The webhook HTTP client, created on first use (inside the running event loop)."""
        if self._http is None:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.notifications.webhook_timeout_s),
                connector=aiohttp.TCPConnector(
                    limit=max(self.concurrency, 10),
                    resolver=PublicAddressResolver(self.addresses),  # in every mode
                ),
                headers={"User-Agent": "scanguard-webhooks/1"},
            )
        return self._http

    async def close(self) -> None:
        if self._own_http and self._http is not None:
            await self._http.close()
            self._http = None
        if self.wechat is not None:
            await self.wechat.aclose()

    async def step(self) -> bool:
        """One round of discover, fan out, deliver; True when there was work."""
        discovered = await self.discover()
        fanned = await self.fan_out()
        delivered = await self.deliver_due()
        return bool(discovered or fanned or delivered)

    def snapshot(self) -> dict[str, Any]:
        s = self.stats
        return {
            "events_fanned_out": s.events_fanned_out,
            "deliveries_created": s.deliveries_created,
            "attempts": s.attempts,
            "delivered": s.delivered,
            "failed_attempts": s.failed_attempts,
            "dead": s.dead,
            "lost_leases": s.lost_leases,
            "uptime_s": round(time.time() - s.started_at, 1),
        }

    # ------------------------------------------------------------------------------------
    # 1. Discover
    # ------------------------------------------------------------------------------------
    async def discover(self) -> int:
        """Record a fan-out row for every outbox event not yet seen; the count recorded."""
        async with session_scope(self.runtime.session_factory) as session:
            floor = await session.scalar(
                select(func.max(NotificationFanout.event_id)).where(
                    NotificationFanout.created_at < utcnow() - GAP_WINDOW
                )
            )
            ids = (
                await session.scalars(
                    select(OutboxEvent.id)
                    .where(
                        OutboxEvent.id > (floor or 0),
                        ~exists().where(NotificationFanout.event_id == OutboxEvent.id),
                    )
                    .order_by(OutboxEvent.id)
                    .limit(DISCOVER_BATCH)
                )
            ).all()
            now = utcnow()
            await _insert_ignoring_duplicates(
                session,
                NotificationFanout,
                [{"event_id": i, "done": False, "deliveries": 0, "created_at": now} for i in ids],
                ["event_id"],
            )
        return len(ids)

    # ------------------------------------------------------------------------------------
    # 2. Fan out
    # ------------------------------------------------------------------------------------
    async def fan_out(self) -> int:
        """Expand one audience page of each claimed unfinished fan-out; the count handled."""
        async with session_scope(self.runtime.session_factory) as session:
            fanouts = (
                await session.scalars(
                    select(NotificationFanout)
                    .where(NotificationFanout.done.is_(False))
                    .order_by(NotificationFanout.event_id)
                    .limit(FANOUT_BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not fanouts:
                return 0
            events = {
                e.id: e
                for e in await session.scalars(
                    select(OutboxEvent).where(OutboxEvent.id.in_([f.event_id for f in fanouts]))
                )
            }
            rows = _FanoutRows()
            brands = {e.brand_id for e in events.values() if e.brand_id is not None}
            if brands:
                for subscription in await session.scalars(
                    select(WebhookSubscription).where(
                        WebhookSubscription.brand_id.in_(brands),
                        WebhookSubscription.distributor_id.is_(None),
                        WebhookSubscription.active.is_(True),
                    )
                ):
                    rows.brand_subscriptions.setdefault(subscription.brand_id, []).append(
                        subscription
                    )
            for fanout in fanouts:
                event = events.get(fanout.event_id)
                if event is None:  # cannot happen with an append-only outbox; do not loop on it
                    fanout.done, fanout.done_at = True, utcnow()
                    continue
                await self._expand_page(session, rows, fanout, event)
            await rows.write(session)
        if any(f.done for f in fanouts):
            self.stats.events_fanned_out += sum(1 for f in fanouts if f.done)
        return len(fanouts)

    def _audience_for(self, event_type: str) -> AudienceSource | None:
        for prefix, source in self.audiences.items():
            if event_type.startswith(prefix):
                return source
        return None

    async def _expand_page(
        self,
        session: AsyncSession,
        rows: _FanoutRows,
        fanout: NotificationFanout,
        event: OutboxEvent,
    ) -> None:
        cursor = dict(fanout.cursor or {"phase": "direct", "after": None})
        phase, after = cursor.get("phase"), cursor.get("after")
        created = 0
        if event.brand_id is None:  # platform events have no subscribers
            phase = "done"
        elif phase == "direct":
            created += await self._direct(session, rows, event)
            phase, after = "distributors", None
        audience = self._audience_for(event.event_type) if event.brand_id else None
        if phase == "distributors":
            if audience is None:
                phase = "done"
            else:
                page = await audience.distributor_page(
                    session, event, after=after, limit=AUDIENCE_PAGE
                )
                created += await self._to_distributors(session, rows, event, page)
                if len(page) < AUDIENCE_PAGE:
                    phase, after = "consumers", None
                else:
                    after = str(page[-1])
        elif phase == "consumers" and audience is not None:
            targets = await audience.consumer_page(session, event, after=after, limit=AUDIENCE_PAGE)
            created += self._to_consumers(rows, event, targets)
            if len(targets) < AUDIENCE_PAGE:
                phase = "done"
            else:
                after = targets[-1].key
        elif phase == "consumers":
            phase = "done"
        fanout.cursor = {"phase": phase, "after": after}
        fanout.deliveries += created
        if phase == "done":
            fanout.done, fanout.done_at = True, utcnow()
        self.stats.deliveries_created += created

    async def _direct(self, session: AsyncSession, rows: _FanoutRows, event: OutboxEvent) -> int:
        """Brand-wide subscriptions, plus the distributors the payload names."""
        assert event.brand_id is not None
        subscriptions = rows.brand_subscriptions.get(event.brand_id, [])
        created = self._webhooks(rows, event, subscriptions)
        addressed = _addressed_distributors(event.payload or {})
        return created + await self._to_distributors(session, rows, event, addressed)

    def _webhooks(
        self,
        rows: _FanoutRows,
        event: OutboxEvent,
        subscriptions: Iterable[WebhookSubscription],
    ) -> int:
        now = utcnow()
        matching = [
            self._delivery_row(event, CHANNEL_WEBHOOK, str(s.id), s.id, now)
            for s in subscriptions
            if any(pattern_matches(p, event.event_type) for p in s.event_types)
        ]
        rows.deliveries.extend(matching)
        return len(matching)

    @staticmethod
    def _delivery_row(
        event: OutboxEvent,
        channel: str,
        target: str,
        subscription_id: uuid.UUID | None,
        now: datetime,
    ) -> dict[str, Any]:
        return {
            "event_id": event.id,
            "event_uid": event.event_uid,
            "event_type": event.event_type,
            "brand_id": event.brand_id,
            "channel": channel,
            "target": target,
            "subscription_id": subscription_id,
            "status": STATUS_PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }

    async def _to_distributors(
        self,
        session: AsyncSession,
        rows: _FanoutRows,
        event: OutboxEvent,
        distributor_ids: Sequence[uuid.UUID],
    ) -> int:
        """Inbox entries and the distributors' own webhook subscriptions."""
        if not distributor_ids:
            return 0
        now = utcnow()
        rows.distributor_inbox.extend(
            {
                "brand_id": event.brand_id,
                "distributor_id": d,
                "event_id": event.id,
                "event_uid": event.event_uid,
                "event_type": event.event_type,
                "payload": event.payload,
                "created_at": now,
            }
            for d in distributor_ids
        )
        subscriptions = (
            await session.scalars(
                select(WebhookSubscription).where(
                    WebhookSubscription.brand_id == event.brand_id,
                    WebhookSubscription.distributor_id.in_(list(distributor_ids)),
                    WebhookSubscription.active.is_(True),
                )
            )
        ).all()
        return len(distributor_ids) + self._webhooks(rows, event, subscriptions)

    def _to_consumers(
        self, rows: _FanoutRows, event: OutboxEvent, targets: Sequence[ConsumerTarget]
    ) -> int:
        """In-app inbox by device hash; a WeChat delivery where the openid is known."""
        now = utcnow()
        inbox = [
            {
                "brand_id": event.brand_id,
                "device_hash": t.device_hash,
                "event_id": event.id,
                "event_uid": event.event_uid,
                "event_type": event.event_type,
                "payload": event.payload,
                "created_at": now,
            }
            for t in targets
            if t.device_hash
        ]
        rows.consumer_inbox.extend(inbox)
        wechat = (
            [
                self._delivery_row(event, CHANNEL_WECHAT, t.wechat_openid, None, now)
                for t in targets
                if t.wechat_openid
            ]
            if self.wechat is not None
            else []
        )
        rows.deliveries.extend(wechat)
        return len(inbox) + len(wechat)

    # ------------------------------------------------------------------------------------
    # 3. Deliver
    # ------------------------------------------------------------------------------------
    @property
    def lease(self) -> timedelta:
        """How long a claimed delivery stays ours: the send timeout plus a margin."""
        timeout = self.settings.notifications.webhook_timeout_s
        return timedelta(seconds=timeout + max(1.0, timeout))

    async def deliver_due(self) -> int:
        """Claim due deliveries, send them concurrently, record outcomes as they arrive.

        Outcomes are written in chunks by one recorder task (one transaction per chunk, not
        per delivery): under load a chunk holds many, when idle each is written at once.
        """
        token = uuid.uuid4()
        claimed = await claim_due(
            self.runtime.session_factory, token, batch_size=self.batch_size, lease=self.lease
        )
        if not claimed:
            return 0
        gate = asyncio.Semaphore(self.concurrency)
        outcomes: asyncio.Queue[tuple[_Claimed, SendOutcome] | None] = asyncio.Queue()
        recorder = asyncio.create_task(
            record_in_chunks(
                outcomes,
                lambda chunk: record_outcomes(
                    self.runtime.session_factory, self.settings, self.stats, chunk, token
                ),
            )
        )

        async def one(item: _Claimed) -> None:
            async with gate:
                outcome = await self._send(item)
            outcomes.put_nowait((item, outcome))

        try:
            await asyncio.gather(*(one(item) for item in claimed))
        finally:
            outcomes.put_nowait(None)
            await recorder
        return len(claimed)

    async def _send(self, item: _Claimed) -> SendOutcome:
        if item.channel == CHANNEL_WEBHOOK:
            return await send_webhook(
                self.http,
                item,
                timeout_s=self.settings.notifications.webhook_timeout_s,
                addresses=self.addresses,
                box=self.box,
            )
        if item.channel == CHANNEL_WECHAT and self.wechat is not None:
            return await self.wechat.send(item.target, item.event)
        return SendOutcome(False, None, f"no sender for channel {item.channel}", 0)
