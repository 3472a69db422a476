"""Webhooks are safe by default: the worker connects to allowed addresses only (literal or
resolved, in every mode), and the signing secret is stored encrypted yet still signs.

The receivers listen on 127.0.0.1, which these tests' settings allow explicitly
(tests/notifications/conftest.py); a worker built without that allow-list shows the default.
"""

from __future__ import annotations

import dataclasses
import uuid

from sqlalchemy import select, update

from admin_api.notifications.models import WebhookSubscription
from admin_api.notifications.worker import NotificationWorker
from kernel.runtime import Runtime
from kernel.secretbox import ENCRYPTED_PREFIX
from kernel.settings import Settings
from kernel.uow import session_scope
from tests.conftest import running_app
from tests.factories.notifications import create_subscription, emit_event, wait_until
from tests.factories.notifications import deliveries as _deliveries
from tests.factories.tenancy import brand_admin
from tests.support.webhook_receiver import WebhookReceiver


async def _drain(runtime: Runtime) -> None:
    worker = NotificationWorker(runtime)
    try:
        while await worker.step():
            pass
    finally:
        await worker.close()


def _default_policy(runtime: Runtime) -> Runtime:
    """The same runtime in development mode with no allow-list: the shipped default."""
    return dataclasses.replace(
        runtime,
        settings=runtime.settings.with_overrides(
            env="development",
            notifications={"webhook_allowed_networks": (), "webhook_max_attempts": 1},
        ),
    )


async def _set_url(runtime: Runtime, subscription_id: str, url: str) -> None:
    # As if the URL had passed creation and its name were re-pointed later (DNS rebinding).
    async with session_scope(runtime.session_factory) as session:
        await session.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.id == uuid.UUID(subscription_id))
            .values(url=url)
        )


async def test_a_development_worker_refuses_a_loopback_literal_and_a_name_resolving_to_it(
    settings: Settings,
) -> None:
    async with WebhookReceiver() as rx, running_app(settings) as (app, client):
        brand, headers = await brand_admin(app, client)
        literal = await create_subscription(client, headers, rx.url("lit"), ["a.*"])
        named = await create_subscription(client, headers, rx.url("name"), ["b.*"])
        rx.set_secret("lit", literal["secret"])
        rx.set_secret("name", named["secret"])
        runtime: Runtime = app.state.runtime
        await _set_url(runtime, named["id"], f"http://localhost:{rx.port}/hooks/name")
        await emit_event(app, brand.id, "a.x")
        await emit_event(app, brand.id, "b.x")

        await _drain(_default_policy(runtime))
        dead = {d["subscription_id"]: d for d in await _deliveries(client, headers, status="dead")}
        assert "127.0.0.1 is loopback" in dead[literal["id"]]["last_error"]
        assert "localhost resolves to a refused address" in dead[named["id"]]["last_error"]
        assert rx.posts == []

        # With the explicit allow-list (these tests' settings) both arrive, signed.
        for delivery in dead.values():
            replay = await client.post(
                f"/v1/admin/webhooks/deliveries/{delivery['id']}/replay", headers=headers
            )
            assert replay.status_code == 202
        await _drain(runtime)
        assert len(rx.processed("lit")) == 1
        assert len(rx.processed("name")) == 1


async def test_the_secret_is_stored_encrypted_and_still_signs(settings: Settings) -> None:
    async with WebhookReceiver() as rx, running_app(settings) as (app, client):
        brand, headers = await brand_admin(app, client)
        sub = await create_subscription(client, headers, rx.url("main"), ["recall.*"])
        secret = sub["secret"]
        runtime: Runtime = app.state.runtime
        async with session_scope(runtime.session_factory) as session:
            stored = await session.scalar(
                select(WebhookSubscription.secret).where(
                    WebhookSubscription.id == uuid.UUID(sub["id"])
                )
            )
        assert stored is not None
        assert stored.startswith(ENCRYPTED_PREFIX)
        assert secret not in stored
        assert secret.removeprefix("whsec_") not in stored

        rx.set_secret("main", secret)
        await emit_event(app, brand.id, "recall.started")
        await _drain(runtime)
        [post] = rx.processed("main")
        assert post.signature_ok

        rotated = await client.post(
            f"/v1/admin/webhooks/subscriptions/{sub['id']}/rotate-secret", headers=headers
        )
        assert rotated.status_code == 200
        rx.set_secret("main", rotated.json()["secret"])
        await emit_event(app, brand.id, "recall.updated")
        await _drain(runtime)
        await wait_until(lambda: len(rx.processed("main")) == 2, what="second delivery")
        assert all(p.signature_ok for p in rx.processed("main"))
