"""What the gateway contributes to the app: the consumer scan routes and scan monitoring."""

from __future__ import annotations

from typing import Any

from gateway.monitoring.routes import ROUTES as MONITORING_ROUTES
from gateway.routes import ROUTES as SCAN_ROUTES

__all__ = ["ROUTES"]

ROUTES: list[Any] = [*SCAN_ROUTES, *MONITORING_ROUTES]
