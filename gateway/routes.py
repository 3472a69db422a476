"""Scan gateway routes (placeholder while the hot path is written)."""

from __future__ import annotations

from typing import Any

from litestar import get

__all__ = ["ROUTES"]


@get("/health", tags=["monitoring"], sync_to_thread=False)
def health() -> dict[str, str]:
    """Liveness."""
    return {"status": "ok"}


ROUTES: list[Any] = [health]
