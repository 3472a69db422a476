"""What the gateway contributes to the app: the consumer scan routes, the GS1 resolver
and scan monitoring."""

from __future__ import annotations

from typing import Any

from gateway.monitoring.routes import ROUTES as MONITORING_ROUTES
from gateway.resolver.routes import ROUTES as RESOLVER_ROUTES
from gateway.routes import ROUTES as SCAN_ROUTES

__all__ = ["ROUTES"]

# the resolver last: its catch-all path must not shadow a route declared after it
ROUTES: list[Any] = [*SCAN_ROUTES, *MONITORING_ROUTES, *RESOLVER_ROUTES]
