"""Scans, a claim, an alert and a recall reach the stream with the documented envelopes
(docs/streaming.md), in order per code, and a batch published twice is stored once."""

from __future__ import annotations

import uuid
from typing import Any

from admin_api.streaming.events import SCHEMA
from admin_api.streaming.services import read_outbox
from admin_api.streaming.worker import StreamWorker
from kernel.settings import Settings
from tests.conftest import running_app
from tests.factories.loyalty import claim, consumer, scan, setup_loyalty
from tests.factories.notifications import emit_event
from tests.streaming.support import stored_messages

ENVELOPE_KEYS = {"schema", "id", "kind", "type", "brand_id", "occurred_at", "source", "seq"}
SCAN_DATA_KEYS = {
    "scan_uid",
    "scanned_at",
    "code_id",
    "brand_id",
    "product_id",
    "roll_id",
    "verdict",
    "device_hash",
    "country",
    "region",
    "city",
    "lat",
    "lon",
    "accuracy_m",
    "location_source",
    "location_confidence",
    "channel",
    "distributor_id",
    "shipment_id",
    "diverted",
    "recall_id",
}


async def _drain(worker: StreamWorker) -> None:
    while await worker.step():
        pass


async def test_scans_claim_alert_and_recall_become_documented_messages(
    stream_settings: Settings,
) -> None:
    async with running_app(stream_settings) as (app, client):
        lb = await setup_loyalty(app, client, count=3)
        who = await consumer(app)
        for _ in range(2):  # the same code twice: its two scans must stay in order
            await scan(client, lb.url(0), "device-stream-1")
        await scan(client, lb.url(1), "device-stream-2")
        response = await claim(client, who, lb.url(0), "device-stream-1")
        assert response.status_code in (200, 201), response.text
        alert_uid = await emit_event(
            app,
            lb.brand.id,
            "diversion.alert.opened",
            {"alert_id": "a-1", "area": "CN-31"},
            subject_type="diversion_alert",
            subject_id="a-1",
        )
        recall_uid = await emit_event(
            app, lb.brand.id, "recall.started", {"recall_id": "r-1"}, subject_type="recall"
        )
        await emit_event(app, lb.brand.id, "webhook.test")  # not a streamed kind
        worker = StreamWorker(app.state.runtime)
        try:
            await worker.start()
            await _drain(worker)
            again = StreamWorker(app.state.runtime)  # a second pass finds nothing new
            await again.start()
            assert not await again.step()
            await again.close()
        finally:
            await worker.close()
    messages = await stored_messages(stream_settings)
    prefix, brand = stream_settings.stream.subject_prefix, str(lb.brand.id)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for m in messages:
        assert m.subject == f"{prefix}.{brand}.{m.body['kind']}"
        assert m.body["schema"] == SCHEMA
        assert set(m.body) >= ENVELOPE_KEYS
        assert m.msg_id == f"{'scan' if m.body['kind'] == 'scan' else 'event'}:{m.body['id']}"
        by_kind.setdefault(m.body["kind"], []).append(m.body)
    assert sorted(by_kind) == ["alert", "claim", "recall", "scan"]
    assert len(messages) == 3 + 1 + 1 + 1  # three scans, the claim, the alert, the recall

    scans = by_kind["scan"]
    assert all(set(s["data"]) == SCAN_DATA_KEYS for s in scans)
    assert all("ip" not in s["data"] and s["type"] == "scan.recorded" for s in scans)
    first_code = [s for s in scans if s["subject"]["id"] == str(scans[0]["data"]["code_id"])]
    assert [s["seq"] for s in first_code] == sorted(s["seq"] for s in first_code)
    assert len(first_code) == 2

    [credited] = by_kind["claim"]
    assert credited["type"] == "points.credited"
    assert credited["data"]["code_id"] == scans[0]["data"]["code_id"]
    assert credited["data"]["points"] == 10
    assert credited["subject"]["type"] == "claim"

    [alert] = by_kind["alert"]
    assert (alert["type"], alert["id"]) == ("diversion.alert.opened", str(alert_uid))
    assert alert["data"] == {"alert_id": "a-1", "area": "CN-31"}
    [recall] = by_kind["recall"]
    assert (recall["type"], recall["id"]) == ("recall.started", str(recall_uid))


async def test_a_batch_published_again_is_stored_once(stream_settings: Settings) -> None:
    async with running_app(stream_settings) as (app, _):
        for i in range(30):
            await emit_event(app, uuid.uuid4(), "recall.updated", {"n": i}, subject_id=i % 3)
        worker = StreamWorker(app.state.runtime)
        try:
            await worker.start()
            await _drain(worker)
            assert worker.stats.published["outbox"] == 30
            # A publisher that died before committing its cursor sends the batch again.
            async with app.state.session_factory() as session:
                rows = await read_outbox(session, stream_settings.stream.subject_prefix, 0, [], 100)
            result = await worker.publisher.publish([m for _, m in rows if m is not None])
            assert (result.stored, result.duplicates) == (0, 30)
        finally:
            await worker.close()
    messages = await stored_messages(stream_settings)
    assert len(messages) == 30 == len({m.msg_id for m in messages})
    # One recall's events keep their order (subject_id i % 3 is the ordering key).
    for key in range(3):
        ns = [m.body["data"]["n"] for m in messages if m.body["subject"]["id"] == str(key)]
        assert ns == sorted(ns)
