"""Factories for the notification pipeline: worker-enabled settings, outbox events, webhooks."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from litestar import Litestar

from kernel.outbox import emit
from kernel.settings import Settings
from kernel.uow import session_scope
from tests.support.waiting import wait_until

__all__ = [
    "create_subscription",
    "deliveries",
    "emit_event",
    "fast_worker_settings",
    "local_receivers",
    "wait_until",
]


#: Where the test receivers listen (tests/support/webhook_receiver.py): the only non-public
#: network a test's webhooks may reach, allowed explicitly as an operator would.
RECEIVER_NETWORKS = "127.0.0.1/32"


def local_receivers(settings: Settings) -> Settings:
    """``settings`` whose address policy allows the local test receivers (127.0.0.1)."""
    return settings.with_overrides(notifications={"webhook_allowed_networks": RECEIVER_NETWORKS})


def fast_worker_settings(settings: Settings, **overrides: Any) -> Settings:
    """``settings`` with the in-process worker on, quick polls and small retry delays."""
    values: dict[str, Any] = {
        "worker_in_process": True,
        "outbox_poll_interval_s": 0.02,
        "webhook_timeout_s": 2.0,
        "webhook_max_attempts": 10,
        "webhook_backoff_base_s": 0.02,
        "webhook_backoff_max_s": 0.1,
    }
    values.update(overrides)
    return settings.with_overrides(notifications=values)


async def emit_event(
    app: Litestar,
    brand_id: uuid.UUID | None,
    event_type: str,
    payload: dict[str, Any] | None = None,
    *,
    subject_type: str = "test",
    subject_id: object = "s-1",
) -> uuid.UUID:
    """Commit one outbox event the way a domain service does; return its ``event_uid``."""
    async with session_scope(app.state.session_factory) as session:
        event = emit(
            session,
            brand_id=brand_id,
            event_type=event_type,
            subject_type=subject_type,
            subject_id=subject_id,
            payload=payload or {},
        )
    return event.event_uid


async def create_subscription(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    url: str,
    event_types: list[str],
    **fields: Any,
) -> dict[str, Any]:
    """Create a subscription through the API; the answer includes the one-time ``secret``."""
    response = await client.post(
        "/v1/admin/webhooks/subscriptions",
        json={"url": url, "event_types": event_types, **fields},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def deliveries(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    """The delivery log entries the brand of ``headers`` sees (filters as query parameters)."""
    response = await client.get("/v1/admin/webhooks/deliveries", params=params, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items
