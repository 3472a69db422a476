"""The composition root: builds the Litestar app from Settings and the domains' routes.

Every domain exposes ``ROUTES`` (its controllers). The long-lived parts are built, started
and stopped in one lifespan (``admin_api.state.AppServices``) and stored on ``app.state``;
handlers reach them through each domain's own dependency providers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.di import Provide
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

import admin_api.accounts.routes
import admin_api.notifications.routes
import anticounterfeit.plugin
import channel_control.plugin
import gateway.plugin
import loyalty.plugin
from admin_api.openapi import document_problems, openapi_config
from admin_api.state import services_lifespan
from gateway.fastpath import ScanFastPath
from kernel.assets import static_router
from kernel.db import provide_read_db_session
from kernel.logging import configure_logging
from kernel.problems import exception_handlers
from kernel.settings import Settings
from kernel.uow import provide_db_session
from kernel.web_security import security_headers_hook
from kernel.wire import wire_guard

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
    app = Litestar(
        route_handlers=[
            *gateway.plugin.ROUTES,
            *admin_api.accounts.routes.ROUTES,
            *anticounterfeit.plugin.ROUTES,
            *channel_control.plugin.ROUTES,
            *admin_api.notifications.routes.ROUTES,
            *loyalty.plugin.ROUTES,
            static_router(),
        ],
        lifespan=[services_lifespan(settings)],
        dependencies={
            "db": Provide(provide_db_session),
            "read_db": Provide(provide_read_db_session),
        },
        exception_handlers=exception_handlers,
        # NUL characters, over-deep JSON and empty PATCH bodies: one 400 for every route.
        middleware=[wire_guard],
        template_config=TemplateConfig(directory=TEMPLATE_DIR, engine=JinjaTemplateEngine),
        # POST /v1/scans answers are small JSON (under minimum_size unless a product description
        # nears its 2,000-character limit; such answers now go uncompressed) on the hottest
        # route: skip the middleware there, which otherwise builds a gzip compressor per request
        # for every client sending Accept-Encoding: gzip only to discard it.
        compression_config=CompressionConfig(
            backend="gzip", minimum_size=2048, exclude=SCAN_API_PATH_PATTERN
        ),
        openapi_config=openapi_config(),
        # Security headers and cookie flags on every answer (error pages too), not per route.
        before_send=[security_headers_hook(settings)],
        debug=False,
    )
    return document_problems(app)
