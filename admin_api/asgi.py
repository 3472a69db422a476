"""ASGI entry point for servers: ``uvicorn admin_api.asgi:app`` (settings from the environment).

A configuration that cannot run (production without its secrets, a malformed value) stops the
process here with its message and exit status 2: no traceback, no half-started server.
"""

from __future__ import annotations

import sys

from admin_api.app import create_asgi
from kernel.settings import ConfigurationError, Settings

__all__ = ["app"]


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigurationError as exc:
        print(f"scanguard: cannot start: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


app = create_asgi(_settings())
