"""Distributor API inbox, consumer in-app inbox (recalls) and WeChat subscribe messages."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from admin_api.notifications.audiences import WeChatRecallSender
from admin_api.notifications.worker import AUDIENCE_PAGE, NotificationWorker
from kernel.outbox import OutboxEvent
from kernel.settings import Settings
from kernel.wechat import WeChatClient
from tests.conftest import running_app
from tests.factories.channel import (
    distributor_login,
    make_api_key,
    make_distributor,
    make_distributor_user,
)
from tests.factories.notifications import (
    create_subscription,
    emit_event,
    fast_worker_settings,
    wait_until,
)
from tests.factories.tenancy import brand_admin
from tests.factories.trace import activate_recall, create_recall, genealogy_world, scan
from tests.support.webhook_receiver import WebhookReceiver
from tests.support.wechat_server import FakeWeChat


async def _page(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: Any
) -> Any:
    response = await client.get(path, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_distributor_inbox_shows_only_the_callers_entries(settings: Settings) -> None:
    async with (
        WebhookReceiver() as rx,
        running_app(fast_worker_settings(settings)) as (app, client),
    ):
        brand, admin = await brand_admin(app, client)
        d1 = await make_distributor(app, brand)
        d2 = await make_distributor(app, brand)
        d1_headers = await distributor_login(client, await make_distributor_user(app, d1))
        d2_headers = {"X-Api-Key": await make_api_key(app, d2)}
        other_brand, _ = await brand_admin(app, client)
        d3 = await make_distributor(app, other_brand)
        d3_headers = {"X-Api-Key": await make_api_key(app, d3)}
        # The brand registers each distributor's own endpoint.
        for name, dist in (("d1", d1), ("d2", d2)):
            sub = await create_subscription(
                client, admin, rx.url(name), ["*"], distributor_id=str(dist.id)
            )
            rx.set_secret(name, sub["secret"])

        await emit_event(app, brand.id, "shipment.flagged", {"distributor_id": str(d1.id)})
        await emit_event(
            app, brand.id, "recall.notice", {"distributor_ids": [str(d1.id), str(d2.id)]}
        )
        await emit_event(
            app, brand.id, "diversion.alert.opened", {"suspect_distributor_id": str(d2.id)}
        )

        async def arrived() -> bool:
            page = await _page(client, "/v1/distributor/inbox", d1_headers)
            return bool(page["total"] == 2)

        await wait_until(arrived, what="d1's two entries")
        await wait_until(lambda: len(rx.processed()) == 3, what="distributor webhooks")

        d1_page = await _page(client, "/v1/distributor/inbox", d1_headers)
        assert [e["event_type"] for e in d1_page["items"]] == ["recall.notice", "shipment.flagged"]
        d2_page = await _page(client, "/v1/distributor/inbox", d2_headers)
        assert [e["event_type"] for e in d2_page["items"]] == ["recall.notice"]
        assert (await _page(client, "/v1/distributor/inbox", d3_headers))["total"] == 0
        assert sorted(p.json()["type"] for p in rx.processed("d1")) == [
            "recall.notice",
            "shipment.flagged",
        ]
        assert [p.json()["type"] for p in rx.processed("d2")] == ["recall.notice"]

        flagged = d1_page["items"][1]
        assert flagged["payload"] == {"distributor_id": str(d1.id)}
        assert flagged["read_at"] is None
        # Nobody else can mark it read; its owner can (idempotently).
        for headers in (d2_headers, d3_headers):
            denied = await client.post(
                f"/v1/distributor/inbox/{flagged['id']}/read", headers=headers
            )
            assert denied.status_code == 404
            assert denied.json()["code"] == "inbox_entry_not_found"
        read = await client.post(f"/v1/distributor/inbox/{flagged['id']}/read", headers=d1_headers)
        assert read.status_code == 200
        assert read.json()["read_at"] is not None
        again = await client.post(f"/v1/distributor/inbox/{flagged['id']}/read", headers=d1_headers)
        assert again.json()["read_at"] == read.json()["read_at"]
        unread = await _page(client, "/v1/distributor/inbox", d1_headers, unread="true")
        assert [e["event_type"] for e in unread["items"]] == ["recall.notice"]
        filtered = await _page(
            client, "/v1/distributor/inbox", d1_headers, event_type="shipment.flagged"
        )
        assert filtered["total"] == 1
        anonymous = await client.get("/v1/distributor/inbox")
        assert anonymous.status_code == 401


async def test_a_recall_reaches_the_inbox_of_browsers_that_scanned_affected_units(
    settings: Settings,
) -> None:
    async with (
        WebhookReceiver() as rx,
        running_app(fast_worker_settings(settings)) as (app, client),
    ):
        world = await genealogy_world(app, client, roll_size=5)
        [affected] = world.codes(app, "a1", [0])
        [unaffected] = world.codes(app, "control", [0])
        assert (
            await scan(client, world.gtin("a1"), affected, device="device-aaaa1")
        ).status_code == 200
        assert (
            await scan(client, world.gtin("control"), unaffected, device="device-bbbb2")
        ).status_code == 200
        sub = await create_subscription(client, world.admin, rx.url("brand"), ["recall.*"])
        rx.set_secret("brand", sub["secret"])

        recall = await create_recall(
            client, world.admin, [{"kind": "material_lot", "material_lot_id": world.shared["id"]}]
        )
        await activate_recall(client, world.admin, recall["id"])

        affected_cookie = {"Cookie": "sgd=device-aaaa1"}

        async def in_inbox() -> bool:
            return bool((await _page(client, "/v1/inbox", affected_cookie))["total"] >= 1)

        await wait_until(in_inbox, what="the recall notice in the consumer inbox")
        page = await _page(client, "/v1/inbox", affected_cookie)
        [entry] = page["items"]
        assert entry["event_type"] == "recall.started"
        assert entry["payload"]["recall_id"] == recall["id"]
        assert entry["payload"]["consumer_instructions"].startswith("Stop using")
        await wait_until(lambda: len(rx.processed("brand")) == 1, what="brand webhook")
        assert rx.processed("brand")[0].json()["data"]["recall_id"] == recall["id"]

        other = await _page(client, "/v1/inbox", {"Cookie": "sgd=device-bbbb2"})
        assert other["total"] == 0
        # Another browser cannot mark it read; the owner can, one by one or all at once.
        stolen = await client.post(
            f"/v1/inbox/{entry['id']}/read", headers={"Cookie": "sgd=device-bbbb2"}
        )
        assert stolen.status_code == 404
        marked = await client.post(f"/v1/inbox/{entry['id']}/read", headers=affected_cookie)
        assert marked.json() == {"marked": 1}
        assert (await _page(client, "/v1/inbox", affected_cookie, unread="true"))["total"] == 0
        assert (await client.post("/v1/inbox/read-all", headers=affected_cookie)).json() == {
            "marked": 0
        }
        missing = await client.get("/v1/inbox")
        assert missing.status_code == 401
        assert missing.json()["field"] == "sgd"

        # A distributor that confirms quantities is part of the recall's audience: the next
        # change reaches its inbox and its own endpoint, not an unconcerned distributor's.
        d1 = await make_distributor(app, world.brand)
        d2 = await make_distributor(app, world.brand)
        d1_headers = {"X-Api-Key": await make_api_key(app, d1)}
        d2_headers = {"X-Api-Key": await make_api_key(app, d2)}
        d1_sub = await create_subscription(
            client, world.admin, rx.url("d1"), ["recall.*"], distributor_id=str(d1.id)
        )
        rx.set_secret("d1", d1_sub["secret"])
        confirmed = await client.post(
            f"/v1/distributor/recalls/{recall['id']}/confirmations",
            json={"quarantined": 3, "returned": 1},
            headers=d1_headers,
        )
        assert confirmed.status_code == 201, confirmed.text
        changed = await client.patch(
            f"/v1/admin/recalls/{recall['id']}",
            json={"consumer_instructions": "Return it to the shop for a refund."},
            headers=world.admin,
        )
        assert changed.status_code == 200, changed.text

        async def distributor_told() -> bool:
            return bool((await _page(client, "/v1/distributor/inbox", d1_headers))["total"] == 1)

        await wait_until(distributor_told, what="recall.updated in the distributor inbox")
        [notice] = (await _page(client, "/v1/distributor/inbox", d1_headers))["items"]
        assert notice["event_type"] == "recall.updated"
        assert notice["payload"]["distributor_instructions"].startswith("Quarantine")
        await wait_until(lambda: len(rx.processed("d1")) == 1, what="the distributor's webhook")
        assert (await _page(client, "/v1/distributor/inbox", d2_headers))["total"] == 0
        assert rx.posts_to("d2") == []

        async def consumer_told() -> bool:  # consumers come one fan-out step after distributors
            return bool((await _page(client, "/v1/inbox", affected_cookie))["total"] == 2)

        await wait_until(consumer_told, what="recall.updated in the consumer inbox")
        consumer = await _page(client, "/v1/inbox", affected_cookie)
        assert [e["event_type"] for e in consumer["items"]] == ["recall.updated", "recall.started"]


@dataclass(frozen=True)
class _Target:
    key: str
    device_hash: str | None
    wechat_openid: str | None


class _ListedAudience:
    """An audience of ``n`` consumers with WeChat openids (the recalls audience yields
    openids once loyalty's claimers query lands; the pagination and WeChat path are ours)."""

    def __init__(self, n: int) -> None:
        self.targets = [_Target(f"o:{i:06d}", f"{i:032x}", f"openid-{i:06d}") for i in range(n)]
        self.pages = 0

    async def distributor_page(
        self, session: AsyncSession, event: OutboxEvent, *, after: str | None, limit: int
    ) -> list[uuid.UUID]:
        return []

    async def consumer_page(
        self, session: AsyncSession, event: OutboxEvent, *, after: str | None, limit: int
    ) -> Sequence[_Target]:
        self.pages += 1
        return [t for t in self.targets if after is None or t.key > after][:limit]


async def test_large_audience_is_paged_and_wechat_messages_sent_once(settings: Settings) -> None:
    n = AUDIENCE_PAGE * 2 + 7
    with FakeWeChat() as wx:
        wechat_settings = settings.with_overrides(
            wechat={"api_base_url": wx.base_url, "app_id": wx.app_id, "app_secret": wx.app_secret},
            notifications={"webhook_backoff_base_s": 0.01, "webhook_backoff_max_s": 0.02},
        )
        async with running_app(wechat_settings) as (app, client):
            brand, admin = await brand_admin(app, client)
            wx.refuse("openid-000003")  # not subscribed: dead at once, not retried
            audience = _ListedAudience(n)
            worker = NotificationWorker(
                app.state.runtime,
                audiences={"recall.": audience},
                wechat=WeChatRecallSender(WeChatClient(wechat_settings), "tmpl-recall"),
                concurrency=4,
                batch_size=200,
            )
            try:
                await emit_event(
                    app,
                    brand.id,
                    "recall.started",
                    {
                        "recall_id": str(uuid.uuid4()),
                        "reason": "Contaminated preform lot 7, all sizes",
                    },
                )
                while await worker.step():
                    pass
            finally:
                await worker.close()
            assert audience.pages == 3  # 500 + 500 + 7, one page per step
            sent = wx.messages
            assert len(sent) == n - 1
            assert len({m.touser for m in sent}) == n - 1
            assert sent[0].template_id == "tmpl-recall"
            assert (
                sent[0].data["thing1"]["value"] == "Contaminated prefor…"
            )  # 20 characters at most
            stats = (await client.get("/v1/admin/notifications/stats", headers=admin)).json()
            assert stats["deliveries"] == {"pending": 0, "delivered": n - 1, "dead": 1}
            dead = await _page(
                client, "/v1/admin/webhooks/deliveries", admin, status="dead", channel="wechat"
            )
            [refused] = dead["items"]
            assert refused["attempts"] == 1
            assert "43101" in refused["last_error"]
            # Every consumer also has the notice in the in-app inbox (device hash).
            assert worker.stats.deliveries_created == 2 * n
