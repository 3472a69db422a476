"""Admin API routes owned by admin_api (auth, users, brands, audit)."""

from __future__ import annotations

from typing import Any

__all__ = ["ROUTES"]

ROUTES: list[Any] = []
