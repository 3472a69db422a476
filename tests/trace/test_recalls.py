"""Recalls through HTTP on both backends: definition and scope checks, activation takes effect
on the scan path at once (metadata invalidated), the notice with every verdict (JSON field and
HTML banner), recall hits recorded, the affected set, distributor confirmations and progress,
outbox events, change and close, tenant isolation."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select

from anticounterfeit.trace import recall_reports
from gateway.models import Scan
from kernel.auth import Role
from kernel.outbox import OutboxEvent
from kernel.settings import Settings
from tests.conftest import running_app
from tests.factories.channel import (
    distributor_login,
    make_api_key,
    make_distributor,
    make_distributor_user,
)
from tests.factories.codes import codes_of, make_roll, scan_path, token_headers
from tests.factories.loyalty import claim, consumer, make_campaign
from tests.factories.shipping import make_sscc, pack, ship
from tests.factories.tenancy import make_brand, make_product
from tests.factories.trace import (
    GenealogyWorld,
    activate_recall,
    consume,
    create_recall,
    genealogy_world,
    scan,
)
from tests.support.waiting import wait_until


async def _events(app: Litestar, recall_id: str) -> list[OutboxEvent]:
    async with app.state.session_factory() as session:
        rows = await session.execute(
            select(OutboxEvent).where(OutboxEvent.subject_id == recall_id).order_by(OutboxEvent.id)
        )
        return list(rows.scalars())


async def _hits_in_log(app: Litestar, recall_id: str) -> int:
    async with app.state.session_factory() as session:
        query = select(func.count()).where(Scan.recall_id == uuid.UUID(recall_id))
        return int((await session.execute(query)).scalar_one())


async def _lot_recall(
    client: httpx.AsyncClient, w: GenealogyWorld, **fields: Any
) -> dict[str, Any]:
    return await create_recall(
        client, w.admin, [{"kind": "material_lot", "material_lot_id": w.shared["id"]}], **fields
    )


async def test_recall_by_material_lot_reaches_every_verdict(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await genealogy_world(app, client)
    a1 = w.codes(app, "a1", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    gtin_a = w.gtin("a1")
    before = await scan(client, gtin_a, a1[0])
    assert before.json()["verdict"] == "genuine"
    assert "recall" not in before.json()
    # The metadata of a1's roll is now cached in process and in Redis.

    recall = await _lot_recall(client, w, severity="critical")
    assert recall["status"] == "draft"
    draft_scan = await scan(client, gtin_a, a1[1])
    assert "recall" not in draft_scan.json()  # a draft reaches no one

    active = await activate_recall(client, w.admin, recall["id"])
    assert active["status"] == "active"
    assert active["activated_at"]

    # Genuine (first scan), already_scanned, suspicious (6 devices > 5), in the other product.
    first = (await scan(client, gtin_a, a1[2])).json()
    again = (await scan(client, gtin_a, a1[0])).json()
    for i in range(6):
        suspicious = (await scan(client, gtin_a, a1[3], device=f"clone-dev-{i}")).json()
    [b1_code] = w.codes(app, "b1", [4])
    other_product = (await scan(client, w.gtin("b1"), b1_code)).json()
    assert (first["verdict"], again["verdict"], suspicious["verdict"]) == (
        "genuine",
        "already_scanned",
        "suspicious",
    )
    for body in (first, again, suspicious, other_product):
        notice = body["recall"]
        assert notice["id"] == recall["id"]
        assert notice["severity"] == "critical"
        assert notice["instructions"] == "Stop using the product and return it to the shop."
        assert notice["reason"] == "Preform lot contaminated"
        assert notice["since"]

    # The mini-program API (POST /v1/scans, served by the gateway's fast path) carries it too.
    posted = await client.post(
        "/v1/scans",
        json={"url": f"https://id.example.test/01/{gtin_a}/21/{a1[2]}", "device_id": "app-1"},
    )
    assert posted.status_code == 200, posted.text
    assert posted.json()["recall"]["id"] == recall["id"]

    # Void and inactive codes of an affected batch carry the notice too.
    void = await client.post(
        f"/v1/admin/rolls/{w.rolls['a1'].id}/void",
        json={"seq_from": 9, "seq_to": 10, "reason": "damaged label"},
        headers=w.admin,
    )
    assert void.status_code == 200, void.text
    voided = (await scan(client, gtin_a, a1[9])).json()
    assert voided["verdict"] == "void"
    assert voided["recall"]["id"] == recall["id"]
    spare = await make_roll(
        app, w.brand, w.product_a, count=5, activate=False, batch=w.batches["a1"]
    )
    [inactive_code] = codes_of(app, spare, gtin_a, [0])
    inactive = (await scan(client, gtin_a, inactive_code)).json()
    assert inactive["verdict"] == "inactive"
    assert inactive["recall"]["severity"] == "critical"

    # Unaffected: the control batch (same product, other lot) shows nothing.
    [control] = w.codes(app, "control", [0])
    assert "recall" not in (await scan(client, gtin_a, control)).json()

    # The browser page: a prominent banner with the consumer instructions.
    [a2_code] = w.codes(app, "a2", [3])
    page = await client.get(
        f"/01/{gtin_a}/21/{a2_code}", headers={"Accept": "text/html", "Cookie": "sgd=browser-001"}
    )
    assert page.status_code == 200
    assert 'id="recall-notice"' in page.text
    assert 'role="alert"' in page.text
    assert "Recalled product" in page.text
    assert "Stop using the product and return it to the shop." in page.text
    assert page.text.index("recall-notice") < page.text.index('class="banner')

    # Every scan answered with the notice is a recall hit in the scan log.
    hits = 1 + 1 + 6 + 1 + 1 + 1 + 1 + 1  # first, again, 6 clones, b1, app, void, inactive, html
    assert await _hits_in_log(app, recall["id"]) == hits

    affected = await client.get(f"/v1/admin/recalls/{recall['id']}/affected", headers=w.viewer)
    assert affected.status_code == 200, affected.text
    body = affected.json()
    assert body["units_issued"] == 3 * w.roll_size + 5
    assert body["units_active"] == 3 * w.roll_size - 1
    assert body["units_void"] == 1
    per_batch = {(b["gtin"], b["lot"]): b["units"] for b in body["batches"]}
    assert per_batch == {
        (w.product_a.gtin, "L100"): w.roll_size + 5,
        (w.product_a.gtin, "L101"): w.roll_size,
        (w.product_b.gtin, "L100"): w.roll_size,
    }
    # units scanned: a1[0], a1[1], a1[2], a1[3], b1, a2 (genuine first scans)
    assert body["units_scanned"] == 6
    assert body["hits"]["scans"] == hits
    assert body["hits"]["units"] == 7  # a1[0], a1[2], a1[3], a1[9], b1, inactive, a2
    assert sum(g["scans"] for g in body["hits"]["by_region"]) == hits
    assert body["hits"]["by_distributor"] == [{"key": None, "scans": hits, "units": 7}]

    [started] = await _events(app, recall["id"])
    assert started.event_type == "recall.started"
    assert started.brand_id == w.brand.id
    assert started.payload["recall_id"] == recall["id"]
    assert started.payload["severity"] == "critical"
    assert started.payload["consumer_instructions"].startswith("Stop using")
    assert started.payload["distributor_ids"] == []


async def test_change_and_close_take_effect_at_once(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await genealogy_world(app, client)
    [code] = w.codes(app, "a2", [0])
    gtin = w.gtin("a2")
    recall = await create_recall(
        client, w.admin, [{"kind": "batch", "batch_id": str(w.batches["a2"].id)}], severity="low"
    )
    await activate_recall(client, w.admin, recall["id"])
    assert (await scan(client, gtin, code)).json()["recall"]["severity"] == "low"

    changed = await client.patch(
        f"/v1/admin/recalls/{recall['id']}",
        json={"severity": "high", "consumer_instructions": "Do not drink. Call 400-000."},
        headers=w.admin,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 3
    notice = (await scan(client, gtin, code)).json()["recall"]
    assert (notice["severity"], notice["instructions"]) == ("high", "Do not drink. Call 400-000.")

    # Widen the scope to a code range of another batch.
    widened = await client.patch(
        f"/v1/admin/recalls/{recall['id']}",
        json={
            "scopes": [
                {"kind": "batch", "batch_id": str(w.batches["a2"].id)},
                {
                    "kind": "code_range",
                    "roll_id": str(w.rolls["control"].id),
                    "seq_start": 5,
                    "seq_end": 10,
                },
            ]
        },
        headers=w.admin,
    )
    assert widened.status_code == 200, widened.text
    inside, outside = w.codes(app, "control", [5, 10])
    assert (await scan(client, gtin, inside)).json()["recall"]["id"] == recall["id"]
    assert "recall" not in (await scan(client, gtin, outside)).json()
    affected = (
        await client.get(f"/v1/admin/recalls/{recall['id']}/affected", headers=w.admin)
    ).json()
    assert affected["units_issued"] == w.roll_size + 5
    assert affected["code_ranges"] == 2

    closed = await client.post(f"/v1/admin/recalls/{recall['id']}/close", headers=w.admin)
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"
    assert "recall" not in (await scan(client, gtin, code)).json()

    kinds = [e.event_type for e in await _events(app, recall["id"])]
    assert kinds == ["recall.started", "recall.updated", "recall.updated", "recall.closed"]

    # Transitions that make no sense are 409 problems naming the status.
    for path in ("activate", "close"):
        response = await client.post(f"/v1/admin/recalls/{recall['id']}/{path}", headers=w.admin)
        assert response.status_code == 409
        assert response.json()["field"] == "status"
    frozen = await client.patch(
        f"/v1/admin/recalls/{recall['id']}", json={"severity": "low"}, headers=w.admin
    )
    assert frozen.status_code == 409
    assert frozen.json()["code"] == "recall_closed"


async def test_distributors_confirm_quantities_and_the_recall_shows_progress(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await genealogy_world(app, client)
    north = await make_distributor(app, w.brand, regions=("CN-BJ",))
    south = await make_distributor(app, w.brand, regions=("CN-GD",))
    key = await make_api_key(app, north)
    staff = await distributor_login(client, await make_distributor_user(app, south))
    recall = await _lot_recall(client, w)
    path = f"/v1/distributor/recalls/{recall['id']}/confirmations"

    early = await client.post(
        path, json={"quarantined": 1, "returned": 0}, headers={"X-Api-Key": key}
    )
    assert early.status_code == 409  # still a draft
    await activate_recall(client, w.admin, recall["id"])

    listed = await client.get("/v1/distributor/recalls/", headers={"X-Api-Key": key})
    assert listed.status_code == 200, listed.text
    [entry] = listed.json()
    assert entry["distributor_instructions"] == "Quarantine every unit of the listed lots."
    assert entry["my_confirmation"] is None

    first = await client.post(
        path, json={"quarantined": 10, "returned": 2, "note": "shelf A"}, headers={"X-Api-Key": key}
    )
    assert first.status_code == 201, first.text
    assert first.json()["distributor_id"] == str(north.id)
    latest = await client.post(
        path, json={"quarantined": 4, "returned": 9}, headers={"X-Api-Key": key}
    )
    assert latest.status_code == 201
    by_staff = await client.post(path, json={"quarantined": 5, "returned": 0}, headers=staff)
    assert by_staff.status_code == 201, by_staff.text

    progress = (
        await client.get(f"/v1/admin/recalls/{recall['id']}/affected", headers=w.admin)
    ).json()["progress"]
    assert progress["distributors_confirmed"] == 2
    assert (progress["quarantined"], progress["returned"]) == (9, 9)
    assert progress["share_of_issued"] == round(18 / (3 * w.roll_size), 6)
    mine = {
        p["distributor_id"]: (p["quarantined"], p["returned"]) for p in progress["by_distributor"]
    }
    assert mine == {str(north.id): (4, 9), str(south.id): (5, 0)}

    relisted = (await client.get("/v1/distributor/recalls/", headers={"X-Api-Key": key})).json()
    assert relisted[0]["my_confirmation"]["returned"] == 9

    # Confirmed distributors are part of the recall's audience.
    async with app.state.session_factory() as session:
        ids = await recall_reports.recall_distributor_ids(
            session,
            app.state.trace_sources,
            w.brand.id,
            uuid.UUID(recall["id"]),
            after=None,
            limit=10,
        )
        assert ids == sorted([north.id, south.id])
        page = await recall_reports.recall_distributor_ids(
            session,
            app.state.trace_sources,
            w.brand.id,
            uuid.UUID(recall["id"]),
            after=ids[0],
            limit=10,
        )
        assert page == ids[1:]

    # Bad input, no credentials, another brand's distributor.
    negative = await client.post(
        path, json={"quarantined": -1, "returned": 0}, headers={"X-Api-Key": key}
    )
    assert negative.status_code == 400
    assert "quarantined" in negative.json()["field"]
    unknown = await client.post(
        path, json={"quarantined": 1, "returned": 0, "extra": 1}, headers={"X-Api-Key": key}
    )
    assert unknown.status_code == 400
    assert (await client.post(path, json={"quarantined": 1, "returned": 0})).status_code == 401
    stranger_brand = await make_brand(app)
    stranger = await make_distributor(app, stranger_brand)
    foreign = await client.post(
        path,
        json={"quarantined": 1, "returned": 0},
        headers={"X-Api-Key": await make_api_key(app, stranger)},
    )
    assert foreign.status_code == 404
    assert foreign.json()["code"] == "recall_not_found"
    assert (
        await client.get(
            "/v1/distributor/recalls/", headers={"X-Api-Key": await make_api_key(app, stranger)}
        )
    ).json() == []


async def test_consumer_targets_are_the_scanners_of_affected_codes(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await genealogy_world(app, client)
    for i, code in enumerate(w.codes(app, "a1", [0, 1, 2])):
        await scan(client, w.gtin("a1"), code, device=f"consumer-{i}-x")
    await scan(client, w.gtin("control"), w.codes(app, "control", [0])[0], device="bystander-1")
    recall = await _lot_recall(client, w)
    async with app.state.session_factory() as session:
        collected: list[str] = []
        after = None
        while True:
            page = await recall_reports.recall_consumer_targets(
                session,
                app.state.trace_sources,
                w.brand.id,
                uuid.UUID(recall["id"]),
                after=after,
                limit=2,
            )
            if not page:
                break
            collected += [t.device_hash for t in page if t.device_hash]
            assert all(t.wechat_openid is None for t in page)
            assert [t.key for t in page] == sorted(t.key for t in page)
            after = page[-1].key
        scans = await session.execute(
            select(Scan.device_hash).where(Scan.brand_id == w.brand.id).distinct()
        )
        every = set(scans.scalars())
    assert len(collected) == 3
    assert len(set(collected)) == 3
    assert set(collected) < every  # the bystander is not a target


async def test_recall_definitions_are_checked_and_isolated(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await genealogy_world(app, client)
    base = {
        "reason": "r",
        "severity": "high",
        "consumer_instructions": "c",
        "distributor_instructions": "d",
    }
    cases = [
        (
            {
                **base,
                "severity": "apocalyptic",
                "scopes": [{"kind": "batch", "batch_id": str(w.batches["a1"].id)}],
            },
            400,
            "severity",
        ),
        ({**base, "scopes": []}, 400, "scopes"),
        ({**base, "scopes": [{"kind": "planet"}]}, 400, "kind"),
        ({**base, "scopes": [{"kind": "batch"}]}, 404, "scopes[0].batch_id"),
        (
            {**base, "scopes": [{"kind": "batch", "batch_id": str(uuid.uuid4())}]},
            404,
            "scopes[0].batch_id",
        ),
        (
            {**base, "scopes": [{"kind": "material_lot", "material_lot_id": str(uuid.uuid4())}]},
            404,
            "scopes[0].material_lot_id",
        ),
        (
            {
                **base,
                "scopes": [
                    {
                        "kind": "code_range",
                        "roll_id": str(w.rolls["a1"].id),
                        "seq_start": 5,
                        "seq_end": 500,
                    }
                ],
            },
            422,
            "scopes[0].seq_end",
        ),
        (
            {
                **base,
                "scopes": [
                    {
                        "kind": "code_range",
                        "roll_id": str(w.rolls["a1"].id),
                        "seq_start": 5,
                        "seq_end": 5,
                    }
                ],
            },
            422,
            "scopes[0].seq_end",
        ),
        (
            {k: v for k, v in base.items() if k != "reason"}
            | {"scopes": [{"kind": "batch", "batch_id": str(w.batches["a1"].id)}]},
            400,
            "reason",
        ),
    ]
    for body, status, field in cases:
        response = await client.post("/v1/admin/recalls/", json=body, headers=w.admin)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in (response.json().get("field") or ""), (field, response.json())
    assert (
        await client.post(
            "/v1/admin/recalls/",
            json={**base, "scopes": [{"kind": "batch", "batch_id": str(w.batches["a1"].id)}]},
            headers=w.viewer,
        )
    ).status_code == 403

    recall = await _lot_recall(client, w)
    intruder_brand = await make_brand(app)
    intruder = await token_headers(app, role=Role.BRAND_ADMIN, brand=intruder_brand)
    for method, path in (
        ("get", f"/v1/admin/recalls/{recall['id']}"),
        ("get", f"/v1/admin/recalls/{recall['id']}/affected"),
        ("post", f"/v1/admin/recalls/{recall['id']}/activate"),
        ("post", f"/v1/admin/recalls/{recall['id']}/close"),
        ("patch", f"/v1/admin/recalls/{recall['id']}"),
    ):
        kwargs: dict[str, Any] = {"headers": intruder}
        if method == "patch":
            kwargs["json"] = {"severity": "low"}
        response = await client.request(method.upper(), path, **kwargs)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["code"] == "recall_not_found"
    # Another brand cannot scope our batch, lot or roll.
    for scope in (
        {"kind": "batch", "batch_id": str(w.batches["a1"].id)},
        {"kind": "material_lot", "material_lot_id": w.shared["id"]},
        {"kind": "code_range", "roll_id": str(w.rolls["a1"].id)},
    ):
        response = await client.post(
            "/v1/admin/recalls/", json={**base, "scopes": [scope]}, headers=intruder
        )
        assert response.status_code == 404, response.text
    assert (await client.get("/v1/admin/recalls/", headers=intruder)).json()["total"] == 0
    listed = await client.get("/v1/admin/recalls/", params={"status": "draft"}, headers=w.viewer)
    assert [r["id"] for r in listed.json()["items"]] == [recall["id"]]


async def test_claimed_units_are_counted_and_claimers_reached_on_wechat(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await genealogy_world(app, client)
    await make_campaign(client, w.admin, points=10)
    who = await consumer(app)
    [code] = w.codes(app, "b1", [3])
    url = f"https://id.example.test/01/{w.gtin('b1')}/21/{code}"
    scanned = await client.post("/v1/scans", json={"url": url, "device_id": "wx-install-1"})
    assert scanned.status_code == 200, scanned.text
    claimed = await claim(client, who, url, "wx-install-1")
    assert claimed.status_code in (200, 201), claimed.text
    recall = await _lot_recall(client, w)

    affected = (
        await client.get(f"/v1/admin/recalls/{recall['id']}/affected", headers=w.admin)
    ).json()
    assert affected["units_claimed"] == 1
    assert affected["units_scanned"] == 1
    forward = await client.get(
        "/v1/admin/traces/forward", params={"material_lot_id": w.shared["id"]}, headers=w.viewer
    )
    assert forward.json()["summary"]["units_claimed"] == 1
    control = await client.get(
        "/v1/admin/traces/forward",
        params={"batch_id": str(w.batches["control"].id)},
        headers=w.viewer,
    )
    assert control.json()["summary"]["units_claimed"] == 0

    async with app.state.session_factory() as session:
        first = await recall_reports.recall_consumer_targets(
            session,
            app.state.trace_sources,
            w.brand.id,
            uuid.UUID(recall["id"]),
            after=None,
            limit=1,
        )
        second = await recall_reports.recall_consumer_targets(
            session,
            app.state.trace_sources,
            w.brand.id,
            uuid.UUID(recall["id"]),
            after=first[-1].key,
            limit=5,
        )
        done = await recall_reports.recall_consumer_targets(
            session,
            app.state.trace_sources,
            w.brand.id,
            uuid.UUID(recall["id"]),
            after=second[-1].key,
            limit=5,
        )
    assert [t.device_hash is not None for t in first] == [True]
    assert [(t.wechat_openid, t.device_hash) for t in second] == [(who.openid, None)]
    assert second[0].key == f"o:{who.openid}"
    assert first[0].key < second[0].key
    assert done == []


async def test_units_shipped_per_distributor_through_cases_pallets_and_returns(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await genealogy_world(app, client)
    north = await make_distributor(app, w.brand, regions=("CN-BJ",))
    south = await make_distributor(app, w.brand, regions=("CN-GD",))
    a1_roll = str(w.rolls["a1"].id)
    await ship(
        client, w.admin, to=north, ranges=[{"roll_id": a1_roll, "seq_start": 0, "seq_end": 5}]
    )
    # Three b1 units in a case on a pallet, the pallet shipped south.
    case_product = await make_product(app, w.brand, name="Case")
    case_roll = await make_roll(app, w.brand, case_product, count=1)
    [case_code] = codes_of(app, case_roll, case_product.gtin, [0])
    case_ref = {"code": scan_path(case_product.gtin, case_code)}
    b1_units = [scan_path(w.gtin("b1"), c) for c in w.codes(app, "b1", [0, 1, 2])]
    await pack(client, w.admin, case_ref, codes=b1_units)
    sscc = make_sscc()
    await pack(client, w.admin, {"sscc": sscc}, kind="pallet", cases=[case_ref])
    await ship(client, w.admin, to=south, containers=[{"sscc": sscc}])
    # North sends one unit back; the control batch's units do not count.
    [back] = w.codes(app, "a1", [4])
    await ship(
        client,
        {"X-Api-Key": await make_api_key(app, north)},
        kind="return",
        codes=[scan_path(w.gtin("a1"), back)],
        path="/v1/distributor/shipments",
    )
    control_roll = str(w.rolls["control"].id)
    await ship(
        client, w.admin, to=north, ranges=[{"roll_id": control_roll, "seq_start": 0, "seq_end": 9}]
    )

    recall = await _lot_recall(client, w)
    await activate_recall(client, w.admin, recall["id"])
    # A consumer scans a unit north holds: the hit is counted for north (the scan path's
    # channel context), i.e. a recalled unit still in north's market.
    [held_by_north] = w.codes(app, "a1", [1])
    assert (await scan(client, w.gtin("a1"), held_by_north)).json()["recall"]["id"] == recall["id"]
    affected = (
        await client.get(f"/v1/admin/recalls/{recall['id']}/affected", headers=w.viewer)
    ).json()
    assert affected["hits"]["by_distributor"] == [{"key": str(north.id), "scans": 1, "units": 1}]
    shipped = affected["shipped"]
    assert shipped == {
        "units_with_distributors": 7,
        "returned_to_brand": 1,
        "by_distributor": [
            {"distributor_id": str(north.id), "units": 4},
            {"distributor_id": str(south.id), "units": 3},
        ],
    }
    [started] = await _events(app, recall["id"])
    assert started.payload["distributor_ids"] == sorted([str(north.id), str(south.id)])
    async with app.state.session_factory() as session:
        ids = await recall_reports.recall_distributor_ids(
            session,
            app.state.trace_sources,
            w.brand.id,
            uuid.UUID(recall["id"]),
            after=None,
            limit=10,
        )
    assert ids == sorted([north.id, south.id])
    forward = await client.get(
        "/v1/admin/traces/forward",
        params={"material_lot_id": w.shared["id"], "detail": "distributors"},
        headers=w.admin,
    )
    assert forward.status_code == 200, forward.text
    held = {r["distributor_id"]: r["units_held"] for r in forward.json()["detail"]["distributors"]}
    assert held == {str(north.id): 4, str(south.id): 3, None: 1}


# Services only: two workers share invalidations only through a real Redis.
@pytest.mark.parametrize("backend", ["services"])
async def test_activation_reaches_another_worker_at_once(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, backend: str
) -> None:
    """Two app instances on one PostgreSQL + Redis: activating on one invalidates the roll
    metadata the other has cached (Redis delete + pub/sub), so its next scan shows the
    notice. The embedded backend is one process by definition: nothing to tell."""
    w = await genealogy_world(app, client)
    [code] = w.codes(app, "a2", [1])
    async with running_app(settings) as (_, other):
        before = await scan(other, w.gtin("a2"), code)  # caches a2's roll in the other worker
        assert "recall" not in before.json()
        recall = await create_recall(
            client, w.admin, [{"kind": "batch", "batch_id": str(w.batches["a2"].id)}]
        )
        await activate_recall(client, w.admin, recall["id"])
        after: dict[str, Any] = {}

        async def recalled() -> bool:  # pub/sub delivery is asynchronous: allow it a moment
            nonlocal after
            after = (await scan(other, w.gtin("a2"), code)).json()
            return "recall" in after

        await wait_until(recalled, what="the recall to reach the other worker")
        assert after["recall"]["id"] == recall["id"]
        assert after["verdict"] == "already_scanned"


async def test_a_batch_that_consumes_a_recalled_lot_later_is_covered_at_once(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await genealogy_world(app, client)
    [code] = w.codes(app, "control", [0])
    recall = await _lot_recall(client, w)
    await activate_recall(client, w.admin, recall["id"])
    assert "recall" not in (await scan(client, w.gtin("control"), code)).json()
    await consume(client, w.admin, w.batches["control"].id, w.shared["id"], quantity=1.0)
    assert (await scan(client, w.gtin("control"), code)).json()["recall"]["id"] == recall["id"]
    removed = await client.delete(
        f"/v1/admin/batches/{w.batches['control'].id}/materials/{w.shared['id']}",
        headers=w.admin,
    )
    assert removed.status_code == 204, removed.text
    assert "recall" not in (await scan(client, w.gtin("control"), code)).json()
