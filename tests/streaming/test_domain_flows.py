"""The real domain flows through the API — a diversion alert opened by scans, a recall
activated, a claim credited — each reach the stream as their kind, with the payloads
docs/streaming.md lists."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from admin_api.streaming.worker import StreamWorker
from kernel.settings import Settings
from tests.channel_control.test_diversion import BEIJING_IP, GUANGZHOU_IP, city_db
from tests.factories.diversion import (
    AppClient,
    flush_diversion,
    located_app,
    scan,
    shipped_goods,
)
from tests.factories.loyalty import claim, consumer, make_campaign
from tests.factories.trace import activate_recall, create_recall
from tests.streaming.support import stored_messages

RESOLVER = "https://id.example.test"
__all__ = ["city_db"]  # the GeoIP fixture database, shared with the diversion tests


@pytest.fixture
async def geo(stream_settings: Settings, city_db: Path) -> AsyncIterator[AppClient]:
    channel = {"diversion_flush_interval_s": 3600.0}  # the test flushes itself
    async with located_app(stream_settings, city_db, channel=channel) as pair:
        yield pair


async def test_an_alert_a_recall_and_a_claim_from_their_real_flows(
    geo: AppClient, stream_settings: Settings
) -> None:
    app, client = geo
    goods = await shipped_goods(app, client, regions=("CN-GD",))
    gtin = goods.product.gtin
    await make_campaign(client, goods.admin, points=7)
    who = await consumer(app)
    await scan(client, gtin, goods.codes[5], ip=GUANGZHOU_IP, device="claimer-01")
    url = f"{RESOLVER}/01/{gtin}/21/{goods.codes[5]}"
    response = await claim(client, who, url, "claimer-01")
    assert response.status_code in (200, 201), response.text
    for i, code in enumerate(goods.codes[:3]):  # three codes of a Guangdong shipment in Beijing
        await scan(client, gtin, code, ip=BEIJING_IP, device=f"buyer-{i:04d}")
    assert await flush_diversion(app) == 1
    recall = await create_recall(
        client, goods.admin, [{"kind": "batch", "batch_id": str(goods.batch.id)}]
    )
    await activate_recall(client, goods.admin, recall["id"])

    worker = StreamWorker(app.state.runtime)
    try:
        await worker.start()
        while await worker.step():
            pass
    finally:
        await worker.close()
    messages = await stored_messages(stream_settings)
    kinds = {m.body["kind"]: m.body for m in messages}
    assert sorted(kinds) == ["alert", "claim", "recall", "scan"]
    assert sum(m.body["kind"] == "scan" for m in messages) == 4

    alert = kinds["alert"]
    assert alert["type"] == "diversion.alert.opened"
    assert alert["subject"]["type"] == "diversion_alert"
    assert alert["data"]["area"] == "CN-BJ"
    assert alert["data"]["suspect_distributor_id"] == str(goods.distributor.id)
    assert {"alert_id", "distinct_codes", "signal_count", "status"} <= set(alert["data"])

    started = kinds["recall"]
    assert (started["type"], started["subject"]["id"]) == ("recall.started", recall["id"])
    assert started["data"]["recall_id"] == recall["id"]
    assert {"status", "severity", "reason", "distributor_ids", "version"} <= set(started["data"])

    credited = kinds["claim"]
    assert credited["type"] == "points.credited"
    assert credited["data"]["points"] == 7
    assert credited["data"]["consumer_id"] == str(who.id)
    assert credited["data"]["product_id"] == str(goods.product.id)

    beijing = [m.body for m in messages if m.body["kind"] == "scan" and m.body["data"]["diverted"]]
    assert len(beijing) == 3
    assert all(s["data"]["region"] == "CN-BJ" for s in beijing)
    assert all(s["data"]["distributor_id"] == str(goods.distributor.id) for s in beijing)
