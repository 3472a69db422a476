"""Notification tests deliver to local receivers: their settings allow 127.0.0.1 explicitly."""

from __future__ import annotations

import pytest

from kernel.settings import Settings
from tests.factories.notifications import local_receivers


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings plus the receivers' allow-list (nothing else is reachable)."""
    return local_receivers(settings)
