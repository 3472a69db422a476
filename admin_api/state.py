"""The app's long-lived services: built and started in order in one place, stopped in reverse.

``AppServices`` is the typed lifespan state. ``services_lifespan`` builds it, starts each part
(the order matters: a part may use the ones started before it), puts every part on
``app.state`` under the key its handlers read, and on shutdown stops the parts in reverse.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from litestar import Litestar

from admin_api.accounts.services import active_user_guard
from admin_api.brand_objects import BRAND_OBJECTS
from admin_api.notifications.runner import build_worker
from admin_api.notifications.worker import NotificationWorker
from admin_api.trace_sources import TRACE_SOURCES
from anticounterfeit.catalogue import services as catalogue
from anticounterfeit.codes.format import Keyring
from anticounterfeit.codes.metadata import CodeMetadataService
from channel_control.diversion.recorder import DiversionRecorder
from channel_control.diversion.stream import AlertBroadcaster
from channel_control.logistics.destination_cache import IntervalDestinationResolver
from channel_control.scan_port import ChannelScanPort, ChannelWhereabouts
from gateway.codes import ScannedCodes
from gateway.ports import NULL_CHANNEL, UnitWhereabouts
from gateway.service import ScanService
from kernel.guards import PrincipalGuard
from kernel.runtime import Runtime
from kernel.settings import Settings
from kernel.tenancy import BrandExists
from kernel.wechat import WeChatClient
from loyalty.claims import LoyaltyService

__all__ = ["AppServices", "services_lifespan"]


@dataclass(slots=True)
class AppServices:
    """Everything the handlers reach through ``app.state`` (see ``state_items``)."""

    settings: Settings
    runtime: Runtime
    keyring: Keyring
    metadata: CodeMetadataService
    destinations: IntervalDestinationResolver
    alert_stream: AlertBroadcaster
    diversion: DiversionRecorder
    scans: ScanService
    principal_guard: PrincipalGuard
    brand_exists: BrandExists
    wechat: WeChatClient
    loyalty: LoyaltyService
    whereabouts: UnitWhereabouts
    notification_worker: NotificationWorker | None = None

    @classmethod
    def build(cls, settings: Settings) -> AppServices:
        """Construct every part (nothing is started yet)."""
        runtime = Runtime.create(settings)
        keyring = Keyring.from_mapping(settings.auth.code_keyring)
        metadata = CodeMetadataService(runtime)
        destinations = IntervalDestinationResolver(runtime)
        alert_stream = AlertBroadcaster(runtime)
        diversion = DiversionRecorder(
            runtime.session_factory,
            destinations,
            alert_stream,
            flush_interval_s=settings.channel.diversion_flush_interval_s,
            keyring=keyring,
        )
        scans = ScanService(
            runtime,
            keyring,
            metadata,
            channel=ChannelScanPort(diversion) if settings.channel.channel_checks else NULL_CHANNEL,
        )
        whereabouts = ChannelWhereabouts()
        return cls(
            settings=settings,
            runtime=runtime,
            keyring=keyring,
            metadata=metadata,
            destinations=destinations,
            alert_stream=alert_stream,
            diversion=diversion,
            scans=scans,
            principal_guard=active_user_guard(runtime.session_factory),
            brand_exists=catalogue.brand_exists,
            wechat=WeChatClient(settings),
            loyalty=LoyaltyService(runtime, ScannedCodes(keyring, metadata), whereabouts),
            whereabouts=whereabouts,
        )

    def state_items(self) -> dict[str, Any]:
        """The ``app.state`` keys handlers and dependency providers read."""
        return {
            "settings": self.settings,
            "runtime": self.runtime,
            "session_factory": self.runtime.session_factory,
            "read_session_factory": self.runtime.read_session_factory
            or self.runtime.session_factory,
            "keyring": self.keyring,
            "metadata": self.metadata,
            "scans": self.scans,
            "destinations": self.destinations,
            "alert_stream": self.alert_stream,
            "diversion": self.diversion,
            "principal_guard": self.principal_guard,
            "brand_exists": self.brand_exists,
            "trace_sources": TRACE_SOURCES,
            "brand_objects": BRAND_OBJECTS,
            "notification_worker": self.notification_worker,
            "wechat": self.wechat,
            "loyalty": self.loyalty,
            "whereabouts": self.whereabouts,
        }

    async def start(self, stack: AsyncExitStack) -> None:
        """Start the parts in order; ``stack`` stops each started part, in reverse, on exit."""
        stack.push_async_callback(self.runtime.close)
        parts: list[tuple[Callable[[], Any], Callable[[], Any]]] = [
            (self.metadata.start, self.metadata.stop),
            (self.destinations.start, self.destinations.stop),
            (self.alert_stream.start, self.alert_stream.stop),
            (self.diversion.start, self.diversion.stop),
            (self.scans.start, self.scans.stop),
        ]
        for start, stop in parts:
            await start()
            stack.push_async_callback(stop)
        if self.settings.notifications.worker_in_process:
            self.notification_worker = await _start_worker(self.runtime, stack)
        stack.push_async_callback(self.wechat.aclose)


async def _start_worker(runtime: Runtime, stack: AsyncExitStack) -> NotificationWorker:
    """Run the notification worker inside the server (``notification_worker_in_process``)."""
    worker = build_worker(runtime)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop), name="notification-worker")

    async def stop_worker() -> None:
        stop.set()
        await task
        await worker.close()

    stack.push_async_callback(stop_worker)
    return worker


def services_lifespan(settings: Settings) -> Callable[[Litestar], Any]:
    """The app's one lifespan: ``AppServices`` for ``settings``, on ``app.state``."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        services = AppServices.build(settings)
        async with AsyncExitStack() as stack:
            # The state goes up before the parts start, as it always has: a part's start may
            # already serve a request-time lookup of another.
            app.state.update(services.state_items())
            await services.start(stack)
            app.state.notification_worker = services.notification_worker
            yield

    return lifespan
