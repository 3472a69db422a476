"""The composition root: builds the Litestar app from Settings and the domains' routes.

Every domain exposes ``ROUTES`` (its controllers) and, where it has long-lived parts,
objects created here in the lifespan and stored on ``app.state``; handlers reach them
through each domain's own dependency providers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme, Tag
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

import admin_api.notifications.routes
import admin_api.routes
import admin_api.trace_routes
import anticounterfeit.plugin
import channel_control.plugin
import gateway.plugin
import loyalty.plugin
from admin_api.notifications.runner import notifications_lifespan
from admin_api.users import active_user_guard
from anticounterfeit.catalogue import services as catalogue
from anticounterfeit.codes.format import Keyring
from anticounterfeit.codes.metadata import CodeMetadataService
from channel_control.diversion.recorder import DiversionRecorder
from channel_control.diversion.stream import AlertBroadcaster
from channel_control.logistics.destination_cache import IntervalDestinationResolver
from channel_control.scan_port import ChannelScanPort, ChannelWhereabouts
from gateway.fastpath import ScanFastPath
from gateway.ports import NULL_CHANNEL
from gateway.service import ScanService
from kernel.logging import configure_logging
from kernel.problems import exception_handlers
from kernel.runtime import Runtime
from kernel.settings import Settings
from kernel.uow import provide_db_session
from loyalty.lifespan import loyalty_lifespan

__all__ = ["create_app", "create_asgi"]

TEMPLATE_DIR = Path(gateway.plugin.__file__).parent / "templates"
SCAN_API_PATH_PATTERN = "^/v1/scans$"


def create_asgi(settings: Settings) -> Any:
    """What the ASGI server runs: the app, behind the scan fast path unless it is turned off."""
    return with_scan_fast_path(create_app(settings), settings)


def with_scan_fast_path(app: Litestar, settings: Settings) -> Any:
    return ScanFastPath(app) if settings.gateway.scan_fast_path else app


def create_app(settings: Settings) -> Litestar:
    """Build the whole ASGI application (scan gateway + admin API) for ``settings``."""
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
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
        )
        scans = ScanService(
            runtime,
            keyring,
            metadata,
            channel=ChannelScanPort(diversion) if settings.channel.channel_checks else NULL_CHANNEL,
        )
        app.state.update(
            settings=settings,
            runtime=runtime,
            session_factory=runtime.session_factory,
            keyring=keyring,
            metadata=metadata,
            scans=scans,
            destinations=destinations,
            alert_stream=alert_stream,
            diversion=diversion,
            whereabouts=ChannelWhereabouts(),
            principal_guard=active_user_guard(runtime.session_factory),
            brand_exists=catalogue.brand_exists,
        )
        await metadata.start()
        await destinations.start()
        await alert_stream.start()
        await diversion.start()
        await scans.start()
        try:
            yield
        finally:
            await scans.stop()
            await diversion.stop()
            await alert_stream.stop()
            await destinations.stop()
            await metadata.stop()
            await runtime.close()

    return Litestar(
        route_handlers=[
            *gateway.plugin.ROUTES,
            *admin_api.routes.ROUTES,
            *anticounterfeit.plugin.ROUTES,
            *channel_control.plugin.ROUTES,
            *admin_api.trace_routes.ROUTES,
            *admin_api.notifications.routes.ROUTES,
            *loyalty.plugin.ROUTES,
        ],
        lifespan=[lifespan, notifications_lifespan, loyalty_lifespan],
        dependencies={
            "db": Provide(provide_db_session),
        },
        exception_handlers=exception_handlers,
        template_config=TemplateConfig(directory=TEMPLATE_DIR, engine=JinjaTemplateEngine),
        # POST /v1/scans answers are small JSON (under minimum_size unless a product description
        # nears its 2,000-character limit; such answers now go uncompressed) on the hottest
        # route: skip the middleware there, which otherwise builds a gzip compressor per request
        # for every client sending Accept-Encoding: gzip only to discard it.
        compression_config=CompressionConfig(
            backend="gzip", minimum_size=2048, exclude=SCAN_API_PATH_PATTERN
        ),
        openapi_config=OpenAPIConfig(
            title="scanguard",
            version="0.1.0",
            path="/schema",
            description=(
                "One item, one code. Consumer scan gateway (GS1 Digital Link) and the brand "
                "admin API. Errors are RFC 9457 problem+json with a stable `code` and `field`."
            ),
            components=Components(
                security_schemes={
                    "BearerToken": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        bearer_format="JWT",
                        description="Admin, distributor or consumer token (each its own audience)",
                    ),
                    "ApiKey": SecurityScheme(
                        type="apiKey",
                        name="X-Api-Key",
                        security_scheme_in="header",
                        description="A distributor's machine credential (warehouse scanner, ERP)",
                    ),
                }
            ),
            tags=[
                Tag(name="scan", description="Consumer scans (mini-program JSON, browser HTML)"),
                Tag(name="auth", description="Admin login"),
                Tag(name="catalogue", description="Brands, products, batches"),
                Tag(name="codes", description="Code rolls: issue, export, activate, void"),
                Tag(name="monitoring", description="Scan history, counterfeit attempts, audit"),
                Tag(name="traceability", description="Genealogy, traces, EPCIS 2.0 export"),
                Tag(name="recalls", description="Recalls, affected sets, confirmations"),
                Tag(name="notifications", description="Webhooks, delivery log, replay"),
                Tag(
                    name="channel",
                    description="Distributors, aggregation, shipments, whereabouts, diversion",
                ),
                Tag(
                    name="distributor",
                    description="The distributors' own API: login, checks, shipments, inbox",
                ),
                Tag(name="loyalty", description="Consumers: login, claims, points, prizes"),
                Tag(name="loyalty-admin", description="Campaigns, prizes, catalogue, review"),
            ],
        ),
        debug=False,
    )
