"""Stream tests run against the real NATS JetStream server (``SCANGUARD_TEST_NATS_URL``,
default 127.0.0.1:4222): skipped when it is down, a failure under
``SCANGUARD_REQUIRE_SERVICES=1``. Each test has its own stream and subject prefix, deleted
afterwards, so tests never see each other's messages."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from nats.js.errors import NotFoundError

from kernel.settings import Settings
from tests.conftest import WORKER, _missing_service

DEFAULT_TEST_NATS_URL = "nats://127.0.0.1:4222"


@pytest.fixture
async def stream_settings(settings: Settings) -> AsyncIterator[Settings]:
    """``settings`` with a stream and subject prefix of this test's own on the real server."""
    url = os.environ.get("SCANGUARD_TEST_NATS_URL", DEFAULT_TEST_NATS_URL)
    try:
        nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
        await nc.jetstream().account_info()
    except (OSError, nats.errors.Error, TimeoutError) as exc:
        _missing_service(f"NATS JetStream at {url}", exc)
    tag = f"{WORKER}_{uuid.uuid4().hex[:10]}"
    ours = settings.with_overrides(
        stream={
            "url": url,
            "stream_name": f"SGTEST_{tag}",
            "subject_prefix": f"sgtest_{tag}",
            "poll_interval_s": 0.05,
            "publish_timeout_s": 5.0,
        }
    )
    try:
        yield ours
    finally:
        with contextlib.suppress(NotFoundError):
            await nc.jetstream().delete_stream(ours.stream.stream_name)
        await nc.close()
