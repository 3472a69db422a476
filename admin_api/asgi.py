"""ASGI entry point for servers: ``uvicorn admin_api.asgi:app`` (settings from the environment)."""

from __future__ import annotations

from admin_api.app import create_asgi
from kernel.settings import Settings

__all__ = ["app"]

app = create_asgi(Settings.from_env())
