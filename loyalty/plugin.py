"""What loyalty contributes to the app: consumer login, claims, points and their admin side."""

from __future__ import annotations

from typing import Any

from loyalty.routes import ROUTES as LOYALTY_ROUTES

__all__ = ["ROUTES"]

ROUTES: list[Any] = [*LOYALTY_ROUTES]
