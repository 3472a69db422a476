"""Notifications API.

- Admin (brand scoped; brand admins write, viewers read): webhook subscriptions under
  ``/v1/admin/webhooks/subscriptions``, the delivery log and replay under
  ``/v1/admin/webhooks/deliveries``, pipeline counts at ``/v1/admin/notifications/stats``.
- Distributor API: ``/v1/distributor/inbox`` (the caller's own entries).
- Web consumers: ``/v1/inbox`` (the entries of the browser's ``sgd`` device cookie).
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody

from admin_api.notifications import inbox, services
from admin_api.notifications.schemas import (
    Channel,
    DeliveryAttemptOut,
    DeliveryDetailOut,
    DeliveryOut,
    DeliveryPage,
    DeliveryStatus,
    InboxEntryOut,
    InboxEntryPage,
    MarkedReadOut,
    PipelineStatsOut,
    SubscriptionCreate,
    SubscriptionCreatedOut,
    SubscriptionOut,
    SubscriptionPage,
    SubscriptionUpdate,
)
from admin_api.notifications.worker import NotificationWorker
from anticounterfeit.catalogue.schemas import changes_of
from channel_control.distributors.auth import provide_distributor_principal
from channel_control.distributors.credentials import DistributorPrincipal
from gateway.service import ScanService
from kernel.db import ReadDb
from kernel.errors import AuthenticationFailed
from kernel.guards import BRAND_READ, BRAND_WRITE
from kernel.pagination import Limit, Offset
from kernel.settings import provide_settings
from kernel.tenancy import SECURITY, ActingBrand, BrandScope, Caller, Db, scoped_dependencies
from kernel.wire import RowId

__all__ = [
    "ROUTES",
    "ConsumerInboxController",
    "DeliveryController",
    "DistributorInboxController",
    "NotificationStatsController",
    "SubscriptionController",
]

DEVICE_COOKIE = "sgd"  # the gateway's browser device cookie

DistributorCaller = NamedDependency[DistributorPrincipal]


def _policy(state: State) -> services.WebhookPolicy:
    return services.WebhookPolicy.from_settings(provide_settings(state))


def _worker(state: State) -> NotificationWorker | None:
    worker: NotificationWorker | None = getattr(state, "notification_worker", None)
    return worker


class SubscriptionController(Controller):
    path = "/v1/admin/webhooks/subscriptions"
    tags = ("notifications",)
    security = SECURITY
    dependencies = scoped_dependencies()

    @post("/", status_code=201, guards=[BRAND_WRITE])
    async def create_subscription(
        self,
        data: JSONBody[SubscriptionCreate],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        state: State,
    ) -> SubscriptionCreatedOut:
        """Subscribe an endpoint to event types (`recall.*`, `counterfeit.spike`, `*`...).

        The answer carries the signing `secret` — the only time it is shown (it is stored
        encrypted). `url` must be https to a public host: private, loopback, link-local,
        shared (CGNAT), multicast and reserved addresses, IPv6 forms wrapping IPv4 and local
        names are refused (422 `private_address_url`) unless the operator allow-listed them.
        With `distributor_id` the endpoint belongs to that distributor and receives only
        events addressed to it.
        """
        subscription, secret = await services.create_subscription(
            db,
            principal,
            acting_brand,
            url=data.url,
            event_types=data.event_types,
            policy=_policy(state),
            description=data.description,
            active=data.active,
            distributor_id=data.distributor_id,
        )
        return SubscriptionCreatedOut.with_secret(subscription, secret)

    @get("/", guards=[BRAND_READ])
    async def list_subscriptions(
        self,
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        active: FromQuery[bool | None] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> SubscriptionPage:
        """The brand's webhook subscriptions (never their secrets)."""
        rows, total = await services.list_subscriptions(
            db, acting_brand, active=active, limit=limit, offset=offset
        )
        return SubscriptionPage(
            items=[SubscriptionOut.of(s) for s in rows], total=total, limit=limit, offset=offset
        )

    @get("/{subscription_id:uuid}", guards=[BRAND_READ])
    async def get_subscription(
        self,
        subscription_id: FromPath[uuid.UUID],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> SubscriptionOut:
        """One subscription of the brand."""
        return SubscriptionOut.of(
            await services.get_subscription(db, acting_brand, subscription_id)
        )

    @patch("/{subscription_id:uuid}", guards=[BRAND_WRITE])
    async def update_subscription(
        self,
        subscription_id: FromPath[uuid.UUID],
        data: JSONBody[SubscriptionUpdate],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        state: State,
    ) -> SubscriptionOut:
        """Change `url`, `event_types`, `description` or `active` (pause with `false`)."""
        subscription = await services.update_subscription(
            db,
            principal,
            acting_brand,
            subscription_id,
            policy=_policy(state),
            changes=changes_of(data),
        )
        return SubscriptionOut.of(subscription)

    @post("/{subscription_id:uuid}/rotate-secret", status_code=200, guards=[BRAND_WRITE])
    async def rotate_subscription_secret(
        self,
        subscription_id: FromPath[uuid.UUID],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        state: State,
    ) -> SubscriptionCreatedOut:
        """A new signing secret, shown once; the old one stops signing at once."""
        subscription, secret = await services.rotate_secret(
            db, principal, acting_brand, subscription_id, box=_policy(state).box
        )
        return SubscriptionCreatedOut.with_secret(subscription, secret)

    @delete("/{subscription_id:uuid}", status_code=204, guards=[BRAND_WRITE])
    async def delete_subscription(
        self,
        subscription_id: FromPath[uuid.UUID],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> None:
        """Delete a subscription; its pending deliveries become dead (the log stays)."""
        await services.delete_subscription(db, principal, acting_brand, subscription_id)


class DeliveryController(Controller):
    path = "/v1/admin/webhooks/deliveries"
    tags = ("notifications",)
    security = SECURITY
    dependencies = scoped_dependencies()

    @get("/", guards=[BRAND_READ])
    async def list_deliveries(
        self,
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        subscription_id: FromQuery[uuid.UUID | None] = None,
        status: FromQuery[DeliveryStatus | None] = None,
        event_type: FromQuery[str | None] = None,
        channel: FromQuery[Channel | None] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> DeliveryPage:
        """The delivery log, newest first; filter by subscription, status, event type, channel."""
        rows, total = await services.list_deliveries(
            db,
            acting_brand,
            subscription_id=subscription_id,
            status=status,
            event_type=event_type,
            channel=channel,
            limit=limit,
            offset=offset,
        )
        return DeliveryPage(
            items=[DeliveryOut.of(d) for d in rows], total=total, limit=limit, offset=offset
        )

    @get("/{delivery_id:int}", guards=[BRAND_READ])
    async def get_delivery(
        self,
        delivery_id: RowId,
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> DeliveryDetailOut:
        """One delivery with every attempt (status code, error, latency)."""
        delivery = await services.get_delivery(db, acting_brand, delivery_id)
        attempts = await services.delivery_attempts(db, delivery.id)
        base = DeliveryOut.of(delivery)
        return DeliveryDetailOut(
            **{f: getattr(base, f) for f in base.__struct_fields__},
            attempt_log=[DeliveryAttemptOut.of(a) for a in attempts],
        )

    @post("/{delivery_id:int}/replay", status_code=202, guards=[BRAND_WRITE])
    async def replay_delivery(
        self,
        delivery_id: RowId,
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        state: State,
    ) -> DeliveryOut:
        """Send a dead (or already delivered) delivery again with a fresh attempt budget.

        The event id and `Idempotency-Key` stay the same. A pending one is 409
        `delivery_pending`.
        """
        delivery = await services.replay_delivery(db, principal, acting_brand, delivery_id)
        worker = _worker(state)
        if worker is not None:
            worker.wake()
        return DeliveryOut.of(delivery)


class NotificationStatsController(Controller):
    path = "/v1/admin/notifications"
    tags = ("notifications",)
    security = SECURITY
    dependencies = scoped_dependencies()

    @get("/stats", guards=[BRAND_READ])
    async def get_notification_stats(
        self, principal: Caller, brand_scope: BrandScope, read_db: ReadDb, state: State
    ) -> PipelineStatsOut:
        """Deliveries pending / delivered / dead, how many are due, the oldest pending one's
        age; platform admins without `X-Scanguard-Brand` also see the outbox backlog and this
        process's worker counters."""
        stats = await services.pipeline_stats(read_db, brand_scope)
        worker = _worker(state)
        return PipelineStatsOut.of(
            stats, worker.snapshot() if worker is not None and brand_scope is None else None
        )


class DistributorInboxController(Controller):
    """The distributor API inbox: recall notices, diversion alerts addressed to the caller."""

    path = "/v1/distributor/inbox"
    tags = ("distributor",)
    dependencies = {"distributor": Provide(provide_distributor_principal)}

    @get("/")
    async def list_distributor_inbox(
        self,
        distributor: DistributorCaller,
        db: Db,
        unread: FromQuery[bool] = False,
        event_type: FromQuery[str | None] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> InboxEntryPage:
        """The caller's own notifications, newest first (`unread=true`: unread only)."""
        rows, total = await inbox.list_distributor_inbox(
            db,
            distributor.brand_id,
            distributor.distributor_id,
            unread_only=unread,
            event_type=event_type,
            limit=limit,
            offset=offset,
        )
        return InboxEntryPage(
            items=[InboxEntryOut.of(e) for e in rows], total=total, limit=limit, offset=offset
        )

    @post("/{entry_id:int}/read", status_code=200)
    async def mark_distributor_inbox_read(
        self, entry_id: RowId, distributor: DistributorCaller, db: Db
    ) -> InboxEntryOut:
        """Mark one of the caller's entries read (idempotent); another's is 404."""
        entry = await inbox.mark_distributor_read(
            db, distributor.brand_id, distributor.distributor_id, entry_id
        )
        return InboxEntryOut.of(entry)


def _device_hash(request: Request[Any, Any, Any]) -> str:
    device_id = request.cookies.get(DEVICE_COOKIE)
    if not device_id or not 8 <= len(device_id) <= 64:
        raise AuthenticationFailed(
            f"the inbox belongs to the browser that scanned: send its {DEVICE_COOKIE} cookie",
            code="missing_device",
            field=DEVICE_COOKIE,
        )
    scans: ScanService = request.app.state.scans
    return scans.device_hash(device_id)


class ConsumerInboxController(Controller):
    """A web consumer's in-app inbox (recall notices for units this browser scanned)."""

    path = "/v1/inbox"
    tags = ("scan",)

    @get("/")
    async def list_consumer_inbox(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        unread: FromQuery[bool] = False,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> InboxEntryPage:
        """The notifications of this browser (its `sgd` cookie), newest first."""
        rows, total = await inbox.list_consumer_inbox(
            db, _device_hash(request), unread_only=unread, limit=limit, offset=offset
        )
        return InboxEntryPage(
            items=[InboxEntryOut.of(e) for e in rows], total=total, limit=limit, offset=offset
        )

    @post("/{entry_id:int}/read", status_code=200)
    async def mark_consumer_inbox_read(
        self, request: Request[Any, Any, Any], entry_id: RowId, db: Db
    ) -> MarkedReadOut:
        """Mark one of this browser's entries read; another's is 404."""
        marked = await inbox.mark_consumer_read(db, _device_hash(request), entry_id)
        return MarkedReadOut(marked=marked)

    @post("/read-all", status_code=200)
    async def mark_consumer_inbox_all_read(
        self, request: Request[Any, Any, Any], db: Db
    ) -> MarkedReadOut:
        """Mark all of this browser's entries read."""
        return MarkedReadOut(marked=await inbox.mark_consumer_read(db, _device_hash(request), None))


ROUTES: list[Any] = [
    SubscriptionController,
    DeliveryController,
    NotificationStatsController,
    DistributorInboxController,
    ConsumerInboxController,
]
