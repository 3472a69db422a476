"""Webhook delivery end to end: outbox event → in-process worker → a real local receiver.

Runs on both backends (``settings`` fixture); the server's own worker delivers (the same code
``scanguard worker`` runs), with small retry delays so retries take milliseconds.
"""

from __future__ import annotations

import uuid

from kernel.settings import Settings
from tests.conftest import running_app
from tests.factories.notifications import (
    create_subscription,
    emit_event,
    fast_worker_settings,
    wait_until,
)
from tests.factories.notifications import (
    deliveries as _deliveries,
)
from tests.factories.tenancy import brand_admin
from tests.support.webhook_receiver import WebhookReceiver


async def test_receiver_failing_five_times_gets_one_verified_delivery(settings: Settings) -> None:
    async with (
        WebhookReceiver() as rx,
        running_app(fast_worker_settings(settings)) as (app, client),
    ):
        brand, headers = await brand_admin(app, client)
        sub = await create_subscription(client, headers, rx.url("main"), ["recall.*"])
        rx.set_secret("main", sub["secret"])
        rx.fail_next(5, "main")
        event_uid = await emit_event(app, brand.id, "recall.started", {"recall_id": "r-1"})

        async def delivered() -> bool:
            items = await _deliveries(client, headers, status="delivered")
            return len(items) == 1

        await wait_until(delivered, what="the delivery to succeed")
        posts = rx.posts_to("main")
        assert [p.status for p in posts] == [503] * 5 + [200]
        assert all(p.signature_ok for p in posts)
        assert len(rx.processed("main")) == 1
        ok = rx.processed("main")[0]
        assert ok.key == str(event_uid) == ok.headers["scanguard-event-id"]
        assert ok.json()["id"] == str(event_uid)
        assert ok.json()["type"] == "recall.started"
        assert ok.json()["data"] == {"recall_id": "r-1"}
        assert ok.headers["scanguard-attempt"] == "6"
        # The signature really depends on the secret and the body.
        from tests.support.webhook_receiver import verify

        header = ok.headers["scanguard-signature"]
        assert verify(sub["secret"], header, ok.body)
        assert not verify(sub["secret"] + "x", header, ok.body)
        assert not verify(sub["secret"], header, ok.body + b" ")

        [delivery] = await _deliveries(client, headers)
        assert delivery["attempts"] == 6
        assert delivery["status"] == "delivered"
        assert delivery["event_id"] == str(event_uid)
        detail = await client.get(
            f"/v1/admin/webhooks/deliveries/{delivery['id']}", headers=headers
        )
        assert detail.status_code == 200
        log = detail.json()["attempt_log"]
        assert [a["status_code"] for a in log] == [503] * 5 + [200]
        assert [a["success"] for a in log] == [False] * 5 + [True]
        assert all(a["latency_ms"] >= 0 for a in log)
        assert log[0]["error"] == "HTTP 503"


async def test_dead_letter_after_max_attempts_then_manual_replay(settings: Settings) -> None:
    async with (
        WebhookReceiver() as rx,
        running_app(fast_worker_settings(settings, webhook_max_attempts=3)) as (app, client),
    ):
        brand, headers = await brand_admin(app, client)
        sub = await create_subscription(client, headers, rx.url("main"), ["points.held"])
        rx.set_secret("main", sub["secret"])
        rx.fail_next(1000, "main", status=500)
        await emit_event(app, brand.id, "points.held", {"consumer": "c-1"})

        async def dead() -> bool:
            return len(await _deliveries(client, headers, status="dead")) == 1

        await wait_until(dead, what="dead-letter")
        [delivery] = await _deliveries(client, headers)
        assert delivery["attempts"] == 3
        assert delivery["last_status_code"] == 500
        assert len(rx.posts_to("main")) == 3
        assert not rx.processed()

        stats = await client.get("/v1/admin/notifications/stats", headers=headers)
        assert stats.json()["deliveries"]["dead"] == 1

        # The endpoint is fixed; an operator replays the dead delivery.
        rx.fail_next(0, "main")
        replay = await client.post(
            f"/v1/admin/webhooks/deliveries/{delivery['id']}/replay", headers=headers
        )
        assert replay.status_code == 202, replay.text
        assert replay.json()["status"] == "pending"

        async def delivered() -> bool:
            return len(await _deliveries(client, headers, status="delivered")) == 1

        await wait_until(delivered, what="the replayed delivery")
        assert len(rx.processed("main")) == 1

        # Replaying a delivered one sends it again with the same idempotency key: the
        # receiver acknowledges without applying it twice.
        again = await client.post(
            f"/v1/admin/webhooks/deliveries/{delivery['id']}/replay", headers=headers
        )
        assert again.status_code == 202
        await wait_until(lambda: len(rx.posts_to("main")) == 5, what="second replay")
        await wait_until(delivered, what="delivered again")
        assert len(rx.processed("main")) == 1
        assert len({p.key for p in rx.posts_to("main")}) == 1

        # A pending delivery cannot be replayed; an unknown one is 404.
        rx.fail_next(1000, "main")
        await emit_event(app, brand.id, "points.held", {"consumer": "c-2"})
        await wait_until(
            lambda: len(rx.posts_to("main")) >= 6, what="first attempt of the second event"
        )
        pending = await _deliveries(client, headers, status="pending")
        if pending:  # may already be dead if the retries were quicker than this request
            conflict = await client.post(
                f"/v1/admin/webhooks/deliveries/{pending[0]['id']}/replay", headers=headers
            )
            assert conflict.status_code == 409
            assert conflict.json()["code"] == "delivery_pending"
        missing = await client.post("/v1/admin/webhooks/deliveries/999999/replay", headers=headers)
        assert missing.status_code == 404
        assert missing.json()["code"] == "delivery_not_found"


async def test_subscriptions_receive_only_their_event_types(settings: Settings) -> None:
    async with (
        WebhookReceiver() as rx,
        running_app(fast_worker_settings(settings)) as (app, client),
    ):
        brand, headers = await brand_admin(app, client)
        patterns = {
            "recalls": ["recall.*"],
            "alerts": ["diversion.alert.*", "counterfeit.spike"],
            "all": ["*"],
            "held": ["points.held"],
        }
        for hook, types in patterns.items():
            sub = await create_subscription(client, headers, rx.url(hook), types)
            rx.set_secret(hook, sub["secret"])
        paused = await create_subscription(client, headers, rx.url("paused"), ["*"], active=False)
        rx.set_secret("paused", paused["secret"])
        other_brand, _ = await brand_admin(app, client)

        types = [
            "recall.started",
            "recall.updated",
            "recalls.misc",  # not recall.*: the prefix ends at the dot
            "diversion.alert.opened",
            "counterfeit.spike",
            "counterfeit.spike.regional",
            "points.held",
        ]
        for event_type in types:
            await emit_event(app, brand.id, event_type)
        await emit_event(app, other_brand.id, "recall.started")  # another tenant's event
        await emit_event(app, None, "recall.started")  # platform event: no subscribers

        expected = {
            "recalls": {"recall.started", "recall.updated"},
            "alerts": {"diversion.alert.opened", "counterfeit.spike"},
            "all": set(types),
            "held": {"points.held"},
        }
        total = sum(len(v) for v in expected.values())
        await wait_until(
            lambda: len(rx.processed()) == total,
            what=lambda: f"all deliveries, got {[(p.hook, p.status) for p in rx.posts]}",
        )

        async def settled() -> bool:
            stats = (await client.get("/v1/admin/notifications/stats", headers=headers)).json()
            return bool(stats["deliveries"]["pending"] == 0)

        await wait_until(settled, what="no pending deliveries")
        for hook, wanted in expected.items():
            got = [p.json()["type"] for p in rx.processed(hook)]
            assert sorted(got) == sorted(wanted), hook
        assert rx.posts_to("paused") == []
        assert len(await _deliveries(client, headers, limit=200)) == total
        recalls_only = await _deliveries(client, headers, event_type="recall.updated")
        assert len(recalls_only) == 2  # the "recalls" and the "all" subscriptions


async def test_a_receiver_that_is_down_misses_nothing(settings: Settings) -> None:
    rx = WebhookReceiver()  # not started: connections are refused
    async with running_app(
        fast_worker_settings(settings, webhook_max_attempts=1000, webhook_backoff_max_s=0.05)
    ) as (app, client):
        brand, headers = await brand_admin(app, client)
        sub = await create_subscription(client, headers, rx.url("main"), ["diversion.alert.*"])
        rx.set_secret("main", sub["secret"])
        uids = {str(await emit_event(app, brand.id, "diversion.alert.opened")) for _ in range(5)}

        async def failing_for_a_while() -> bool:
            items = await _deliveries(client, headers)
            return len(items) == 5 and all(d["attempts"] >= 3 for d in items)

        await wait_until(failing_for_a_while, what="several failed attempts each")
        items = await _deliveries(client, headers)
        assert all(d["status"] == "pending" and d["last_status_code"] is None for d in items)
        assert all("Connect" in (d["last_error"] or "") for d in items)

        await rx.start()  # the endpoint comes back
        try:
            await wait_until(lambda: len(rx.processed()) == 5, what="all five delivered")

            async def all_delivered() -> bool:
                return len(await _deliveries(client, headers, status="delivered")) == 5

            await wait_until(all_delivered, what="delivered state")
        finally:
            await rx.stop()
        assert {p.key for p in rx.processed()} == uids
        assert all(count == 1 for count in rx.processed_keys.values())


async def test_paused_and_deleted_subscriptions(settings: Settings) -> None:
    async with (
        WebhookReceiver() as rx,
        running_app(fast_worker_settings(settings, webhook_max_attempts=2)) as (app, client),
    ):
        brand, headers = await brand_admin(app, client)
        sub = await create_subscription(client, headers, rx.url("main"), ["*"])
        rx.set_secret("main", sub["secret"])
        await emit_event(app, brand.id, "recall.started")
        await wait_until(lambda: len(rx.processed()) == 1, what="first delivery")

        # Rotating the secret: the next delivery is signed with the new one only.
        rotated = await client.post(
            f"/v1/admin/webhooks/subscriptions/{sub['id']}/rotate-secret", headers=headers
        )
        assert rotated.status_code == 200
        assert rotated.json()["secret"] != sub["secret"]
        await emit_event(app, brand.id, "recall.updated")
        await wait_until(lambda: len(rx.posts) == 3, what="two refused posts (old secret)")
        assert [p.status for p in rx.posts[1:]] == [401, 401]  # dead after 2 attempts
        rx.set_secret("main", rotated.json()["secret"])
        dead = await _deliveries(client, headers, status="dead")
        assert len(dead) == 1
        replay = await client.post(
            f"/v1/admin/webhooks/deliveries/{dead[0]['id']}/replay", headers=headers
        )
        assert replay.status_code == 202
        await wait_until(lambda: len(rx.processed()) == 2, what="delivery with the new secret")

        # Deleting: the log stays, nothing more is sent.
        deleted = await client.delete(
            f"/v1/admin/webhooks/subscriptions/{sub['id']}", headers=headers
        )
        assert deleted.status_code == 204
        await emit_event(app, brand.id, "recall.closed")
        marker = await create_subscription(client, headers, rx.url("marker"), ["recall.closed"])
        rx.set_secret("marker", marker["secret"])
        await emit_event(app, brand.id, "recall.closed", {"n": 2})
        await wait_until(
            lambda: any(p.json()["data"] == {"n": 2} for p in rx.processed("marker")),
            what="a later event delivered",
        )
        assert len(rx.processed("main")) == 2
        assert len(await _deliveries(client, headers, subscription_id=sub["id"])) == 2


async def test_stats_and_brand_isolation_of_deliveries(settings: Settings) -> None:
    async with (
        WebhookReceiver() as rx,
        running_app(fast_worker_settings(settings)) as (app, client),
    ):
        brand_a, headers_a = await brand_admin(app, client)
        _brand_b, headers_b = await brand_admin(app, client)
        sub = await create_subscription(client, headers_a, rx.url("a"), ["*"])
        rx.set_secret("a", sub["secret"])
        await emit_event(app, brand_a.id, "counterfeit.spike")
        await wait_until(lambda: len(rx.processed()) == 1, what="delivery")

        async def delivered() -> bool:
            return len(await _deliveries(client, headers_a, status="delivered")) == 1

        await wait_until(delivered, what="delivered state")
        [delivery] = await _deliveries(client, headers_a)

        assert await _deliveries(client, headers_b) == []
        for method, path in (
            ("GET", f"/v1/admin/webhooks/deliveries/{delivery['id']}"),
            ("POST", f"/v1/admin/webhooks/deliveries/{delivery['id']}/replay"),
            ("GET", f"/v1/admin/webhooks/subscriptions/{sub['id']}"),
            ("PATCH", f"/v1/admin/webhooks/subscriptions/{sub['id']}"),
            ("POST", f"/v1/admin/webhooks/subscriptions/{sub['id']}/rotate-secret"),
            ("DELETE", f"/v1/admin/webhooks/subscriptions/{sub['id']}"),
        ):
            response = await client.request(
                method,
                path,
                headers=headers_b,
                json={"active": False} if method == "PATCH" else None,
            )
            assert response.status_code == 404, (method, path, response.text)
        listed = await client.get("/v1/admin/webhooks/subscriptions", headers=headers_b)
        assert listed.json()["items"] == []
        assert listed.json()["total"] == 0
        stats_b = (await client.get("/v1/admin/notifications/stats", headers=headers_b)).json()
        assert stats_b["deliveries"] == {"pending": 0, "delivered": 0, "dead": 0}
        assert stats_b["worker"] is None
        assert stats_b["events_not_fanned_out"] is None
        stats_a = (await client.get("/v1/admin/notifications/stats", headers=headers_a)).json()
        assert stats_a["deliveries"]["delivered"] == 1
        # A's subscription is untouched by B's attempts.
        still = await client.get(f"/v1/admin/webhooks/subscriptions/{sub['id']}", headers=headers_a)
        assert still.status_code == 200
        assert still.json()["active"] is True
        assert uuid.UUID(still.json()["id"]) == uuid.UUID(sub["id"])
