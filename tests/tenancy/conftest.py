"""The walk creates webhook subscriptions (never delivered to): 127.0.0.1 is allowed as for
the notification tests' local receivers."""

from __future__ import annotations

import pytest

from kernel.settings import Settings
from tests.factories.notifications import local_receivers


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings plus the local receivers' allow-list."""
    return local_receivers(settings)
