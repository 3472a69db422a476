"""What channel control contributes to the app: distributors, logistics and diversion."""

from __future__ import annotations

from typing import Any

from channel_control.distributors.recall_routes import ROUTES as RECALL_ROUTES
from channel_control.distributors.routes import ROUTES as CHANNEL_ROUTES

__all__ = ["ROUTES"]

ROUTES: list[Any] = [*CHANNEL_ROUTES, *RECALL_ROUTES]
