"""Shipments over HTTP: outbound, receipt, transfers, returns, idempotent document numbers,
distributor isolation, destinations through cases and pallets, O(1) storage for ranges."""

from __future__ import annotations

import asyncio

import httpx
from litestar import Litestar
from sqlalchemy import func, select

from anticounterfeit.codes.format import verify_code
from anticounterfeit.gs1.digital_link import parse_digital_link
from channel_control.logistics.destination import DestinationResolver
from channel_control.logistics.models import Aggregation, ShipmentLine, UnitPosition
from kernel.audit import AuditEntry
from tests.factories.shipping import (
    ShippingWorld,
    pack,
    palletise,
    ship,
    shipping_world,
    unpack,
)

SHIPMENTS = "/v1/admin/shipments"


async def _holder(app: Litestar, w: ShippingWorld, path: str) -> str | None:
    """Where the scan path's resolver says the unit at ``path`` should be (distributor code)."""
    link = parse_digital_link(path)
    assert link.serial is not None
    decoded = verify_code(app.state.keyring, link.serial, link.gtin)
    assert decoded is not None
    resolver: DestinationResolver = app.state.destinations
    found = await resolver.resolve(w.brand.id, decoded.kid, decoded.index)
    if found is None:
        return None
    by_id = {d.id: d.code for d in w.distributors}
    return by_id[found.distributor_id]


async def _count(app: Litestar, model: type) -> int:
    async with app.state.session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_pallet_shipped_then_unpacked_and_partly_reshipped(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await shipping_world(app, items=40)
    d1, d2, _ = w.distributors
    sscc = await palletise(client, w, (0, 20), (20, 40))
    assert await _holder(app, w, w.item(5)) is None  # not shipped yet

    out = await ship(client, w.admin, to=d1, containers=[{"sscc": sscc}])
    assert out["shipment"]["unit_count"] == 40
    assert out["lines"][0]["kind"] == "pallet"
    assert await _holder(app, w, w.item(5)) == d1.code
    assert await _holder(app, w, w.item(35)) == d1.code

    # At D1 the pallet is broken up; case 1 travels on to D2 by D1's own transfer.
    await unpack(client, w.admin, {"sscc": sscc}, all=True)
    assert await _holder(app, w, w.item(35)) == d1.code  # unpacking does not move goods
    await ship(
        client,
        w.keys[0],
        kind="transfer",
        to=d2,
        containers=[w.case(1)],
        path="/v1/distributor/shipments",
    )
    assert await _holder(app, w, w.item(5)) == d1.code
    assert await _holder(app, w, w.item(35)) == d2.code
    # And a few loose items of case 0 go to D2 as well, after leaving the case.
    await unpack(client, w.admin, w.case(0), codes=w.item_list([1, 2]))
    await ship(client, w.admin, kind="transfer", source=d1, to=d2, codes=w.item_list([1, 2]))
    assert [await _holder(app, w, w.item(s)) for s in (0, 1, 2, 3)] == [
        d1.code,
        d2.code,
        d2.code,
        d1.code,
    ]

    where = await client.get("/v1/admin/whereabouts", params={"code": w.item(35)}, headers=w.viewer)
    assert where.status_code == 200, where.text
    body = where.json()
    assert body["kind"] == "item"
    assert body["current"]["distributor"]["id"] == str(d2.id)
    assert body["current"]["via"] == "case"
    assert body["current"]["territory"]["regions"] == ["CN-ZJ"]
    assert [(s["via"], s["to_distributor_id"]) for s in body["shipments"]] == [
        ("pallet", str(d1.id)),
        ("case", str(d2.id)),
    ]
    assert body["case"]["label"].endswith(w.case(1)["code"].rsplit("/", 1)[1])
    assert body["pallet"] is None
    case = (await client.get("/v1/admin/whereabouts", params=w.case(1), headers=w.viewer)).json()
    assert (case["kind"], case["units"], case["pallet"]) == ("case", 20, None)
    assert case["current"]["distributor"]["id"] == str(d2.id)
    assert [s["via"] for s in case["shipments"]] == ["pallet", "case"]
    assert [a["parent_kind"] for a in case["aggregation"]] == ["pallet"]
    loose = (
        await client.get("/v1/admin/whereabouts", params={"code": w.item(1)}, headers=w.viewer)
    ).json()
    assert loose["units"] is None
    assert [s["via"] for s in loose["shipments"]] == ["pallet", "unit"]
    assert loose["current"]["via"] == "unit"


async def test_duplicate_document_is_idempotent_and_other_content_conflicts(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await shipping_world(app, items=50)
    d1, d2, _ = w.distributors
    first = await ship(client, w.admin, to=d1, document_number="DN-1", ranges=[w.item_range(0, 10)])
    again = await ship(
        client, w.admin, to=d1, document_number="DN-1", ranges=[w.item_range(0, 10)], expect=200
    )
    assert again == first
    # The same units listed as codes are the same content.
    as_codes = await ship(
        client, w.admin, to=d1, document_number="DN-1", codes=w.item_list(range(10)), expect=200
    )
    assert as_codes["shipment"]["id"] == first["shipment"]["id"]
    for other in (
        {"to": d2, "ranges": [w.item_range(0, 10)]},
        {"to": d1, "ranges": [w.item_range(0, 11)]},
    ):
        clash = await ship(client, w.admin, document_number="DN-1", expect=409, **other)
        assert clash["field"] == "document_number"
        assert clash["code"] == "document_number_reused"
    listed = (
        await client.get(SHIPMENTS, params={"document_number": "DN-1"}, headers=w.viewer)
    ).json()
    assert listed["total"] == 1
    async with app.state.session_factory() as session:
        audits = (
            await session.scalars(
                select(AuditEntry.action).where(AuditEntry.target_id == first["shipment"]["id"])
            )
        ).all()
    assert audits == ["shipment.created"]


async def test_distributor_sees_only_its_shipments_and_receives_its_own(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await shipping_world(app, items=30)
    d1, d2, d3 = w.distributors
    to_d1 = await ship(client, w.admin, to=d1, ranges=[w.item_range(0, 10)])
    to_d2 = await ship(client, w.admin, to=d2, ranges=[w.item_range(10, 20)])
    d1_id, d2_id = to_d1["shipment"]["id"], to_d2["shipment"]["id"]

    mine = await client.get("/v1/distributor/shipments", headers=w.keys[0])
    assert [s["id"] for s in mine.json()["items"]] == [d1_id]
    assert (
        await client.get(f"/v1/distributor/shipments/{d2_id}", headers=w.keys[0])
    ).status_code == 404
    assert (
        await client.post(f"/v1/distributor/shipments/{d2_id}/receive", headers=w.keys[0])
    ).status_code == 404
    detail = await client.get(f"/v1/distributor/shipments/{d1_id}", headers=w.keys[0])
    assert detail.status_code == 200
    assert detail.json()["lines"] == [
        {
            "kind": "range",
            "kid": w.items.kid,
            "first_index": w.items.first_index,
            "count": 10,
            "container": None,
        }
    ]

    received = await client.post(f"/v1/distributor/shipments/{d1_id}/receive", headers=w.keys[0])
    assert received.status_code == 200, received.text
    assert received.json()["shipment"]["status"] == "received"
    again = await client.post(f"/v1/distributor/shipments/{d1_id}/receive", headers=w.keys[0])
    assert again.json()["shipment"]["received_at"] == received.json()["shipment"]["received_at"]
    resolver: DestinationResolver = app.state.destinations
    dest = await resolver.resolve(w.brand.id, w.items.kid, w.items.first_index + 3)
    assert dest is not None
    assert dest.received is True
    assert dest.document_number == to_d1["shipment"]["document_number"]

    # D3 holds nothing: it cannot ship D1's goods, and never outbound.
    stolen = await ship(
        client,
        w.keys[2],
        kind="transfer",
        to=d3,
        ranges=[w.item_range(0, 10)],
        path="/v1/distributor/shipments",
        expect=422,
    )
    assert stolen["field"] == "to_distributor_id"
    not_held = await ship(
        client,
        w.keys[2],
        kind="transfer",
        to=d1,
        ranges=[w.item_range(0, 10)],
        path="/v1/distributor/shipments",
        expect=422,
    )
    assert not_held["code"] == "shipment_rejected"
    assert not_held["failures"][0]["code"] == "not_held_by_sender"
    outbound = await client.post(
        "/v1/distributor/shipments",
        json={"document_number": "X", "kind": "outbound", "ranges": [w.item_range(0, 1)]},
        headers=w.keys[2],
    )
    assert outbound.status_code == 400
    assert outbound.json()["field"] == "kind"


async def test_transfer_and_return(app: Litestar, client: httpx.AsyncClient) -> None:
    w = await shipping_world(app, items=20)
    d1, d2, _ = w.distributors
    await ship(client, w.admin, to=d1, ranges=[w.item_range(0, 20)])
    # Already at D1: a second outbound of the same units is refused, listing them.
    twice = await ship(client, w.admin, to=d2, ranges=[w.item_range(5, 6)], expect=422)
    assert twice["failures"][0]["code"] == "not_at_brand"
    await ship(
        client,
        w.keys[0],
        kind="transfer",
        to=d2,
        ranges=[w.item_range(0, 5)],
        path="/v1/distributor/shipments",
    )
    assert await _holder(app, w, w.item(2)) == d2.code
    assert await _holder(app, w, w.item(7)) == d1.code
    returned = await ship(
        client,
        w.keys[1],
        kind="return",
        ranges=[w.item_range(0, 5)],
        path="/v1/distributor/shipments",
    )
    assert returned["shipment"]["to_distributor"] is None
    assert returned["shipment"]["from_distributor"]["id"] == str(d2.id)
    assert await _holder(app, w, w.item(2)) is None  # back at the brand
    # D2 cannot confirm a return; the brand does.
    rid = returned["shipment"]["id"]
    assert (
        await client.post(f"/v1/distributor/shipments/{rid}/receive", headers=w.keys[1])
    ).status_code == 403
    ok = await client.post(f"{SHIPMENTS}/{rid}/receive", headers=w.admin)
    assert ok.json()["shipment"]["status"] == "received"
    # Returned goods can go out again.
    await ship(client, w.admin, to=d2, ranges=[w.item_range(0, 5)])
    assert await _holder(app, w, w.item(2)) == d2.code
    by_d2 = (
        await client.get(
            SHIPMENTS, params={"distributor_id": str(d2.id), "kind": "return"}, headers=w.viewer
        )
    ).json()
    assert by_d2["total"] == 1


async def test_range_shipment_of_100k_units_stores_o1_rows(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await shipping_world(app, items=100_000, distributors=3)
    d1, d2, d3 = w.distributors
    before = (await _count(app, ShipmentLine), await _count(app, UnitPosition))
    await ship(client, w.admin, to=d1, ranges=[w.item_range(0, 100_000)])
    await ship(
        client,
        w.keys[0],
        kind="transfer",
        to=d2,
        ranges=[w.item_range(0, 100_000)],
        path="/v1/distributor/shipments",
    )
    await ship(
        client,
        w.keys[1],
        kind="transfer",
        to=d3,
        ranges=[w.item_range(40_000, 60_000)],
        path="/v1/distributor/shipments",
    )
    lines = await _count(app, ShipmentLine) - before[0]
    positions = await _count(app, UnitPosition) - before[1]
    assert lines == 3  # one line per shipment
    assert positions == 3  # [0,40k) at D2, [40k,60k) at D3, [60k,100k) at D2
    assert await _count(app, Aggregation) == 0
    assert await _holder(app, w, w.item(39_999)) == d2.code
    assert await _holder(app, w, w.item(40_000)) == d3.code
    assert await _holder(app, w, w.item(60_000)) == d2.code


async def test_bad_shipments_are_4xx_naming_the_field(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await shipping_world(app, items=10)
    d1 = w.distributors[0]
    cases = [
        (
            {"document_number": "A", "kind": "outbound", "ranges": [w.item_range(0, 1)]},
            422,
            "to_distributor_id",
        ),
        (
            {"document_number": "", "kind": "outbound", "to_distributor_id": str(d1.id)},
            400,
            "document_number",
        ),
        ({"document_number": "A", "kind": "gift", "to_distributor_id": str(d1.id)}, 400, "kind"),
        (
            {"document_number": "A", "kind": "outbound", "to_distributor_id": str(d1.id)},
            422,
            "codes",
        ),
        (
            {
                "document_number": "A",
                "kind": "return",
                "to_distributor_id": str(d1.id),
                "from_distributor_id": str(d1.id),
                "codes": [w.item(0)],
            },
            422,
            "to_distributor_id",
        ),
        (
            {
                "document_number": "A",
                "kind": "outbound",
                "to_distributor_id": str(d1.id),
                "codes": ["nonsense"],
            },
            422,
            "codes[0]",
        ),
        (
            {
                "document_number": "A",
                "kind": "outbound",
                "to_distributor_id": str(d1.id),
                "containers": [{"sscc": "123"}],
            },
            422,
            "containers[0]",
        ),
    ]
    for body, status, field in cases:
        response = await client.post(SHIPMENTS, json=body, headers=w.admin)
        assert response.status_code == status, (body, response.text)
        assert response.json()["field"] == field, response.text
    unknown = await client.post(
        SHIPMENTS,
        json={
            "document_number": "A",
            "kind": "outbound",
            "to_distributor_id": "00000000-0000-0000-0000-000000000000",
            "codes": [w.item(0)],
        },
        headers=w.admin,
    )
    assert unknown.status_code == 404
    assert unknown.json()["field"] == "to_distributor_id"
    packed = await pack(client, w.admin, w.case(0), codes=[w.item(3)])
    assert packed["units"] == 1
    inside = await ship(client, w.admin, to=d1, codes=[w.item(3)], expect=422)
    assert inside["failures"][0]["code"] == "packed"


async def test_concurrent_shipments_of_the_same_units_ship_them_once(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await shipping_world(app, items=50)
    d1, d2, d3 = w.distributors

    async def attempt(to: object, number: str) -> httpx.Response:
        return await client.post(
            SHIPMENTS,
            json={
                "document_number": number,
                "kind": "outbound",
                "to_distributor_id": str(to.id),  # type: ignore[attr-defined]
                "ranges": [w.item_range(0, 50)],
            },
            headers=w.admin,
        )

    responses = await asyncio.gather(attempt(d1, "C-1"), attempt(d2, "C-2"), attempt(d3, "C-3"))
    statuses = sorted(r.status_code for r in responses)
    assert statuses[0] == 201, [r.text for r in responses]
    assert statuses[1:] == [422, 422], [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 201).json()
    assert await _holder(app, w, w.item(10)) == winner["shipment"]["to_distributor"]["code"]


async def test_admin_list_pages_and_filters(app: Litestar, client: httpx.AsyncClient) -> None:
    w = await shipping_world(app, items=30)
    d1, d2, _ = w.distributors
    made = [
        await ship(client, w.admin, to=d1 if i % 2 else d2, ranges=[w.item_range(i * 5, i * 5 + 5)])
        for i in range(5)
    ]
    first = made[1]["shipment"]["id"]
    assert (await client.post(f"{SHIPMENTS}/{first}/receive", headers=w.admin)).status_code == 200
    page = (await client.get(SHIPMENTS, params={"limit": 2, "offset": 1}, headers=w.viewer)).json()
    assert page["total"] == 5
    newest_first = [m["shipment"]["id"] for m in reversed(made)]
    assert [s["id"] for s in page["items"]] == newest_first[1:3]
    received = (await client.get(SHIPMENTS, params={"status": "received"}, headers=w.viewer)).json()
    assert [s["id"] for s in received["items"]] == [first]
    to_d1 = (
        await client.get(SHIPMENTS, params={"distributor_id": str(d1.id)}, headers=w.viewer)
    ).json()
    assert to_d1["total"] == 2
    later = made[2]["shipment"]["shipped_at"]
    since = (await client.get(SHIPMENTS, params={"shipped_from": later}, headers=w.viewer)).json()
    assert since["total"] == 3
    bad = await client.get(SHIPMENTS, params={"status": "lost"}, headers=w.viewer)
    assert bad.status_code == 400
    assert bad.json()["field"] == "status"
    # Another brand sees none of it.
    other = await shipping_world(app, items=1, distributors=1)
    assert (await client.get(SHIPMENTS, headers=other.viewer)).json()["total"] == 0
    assert (await client.get(f"{SHIPMENTS}/{first}", headers=other.viewer)).status_code == 404
    async with app.state.session_factory() as session:
        actions = (
            await session.scalars(select(AuditEntry.action).where(AuditEntry.target_id == first))
        ).all()
    assert sorted(actions) == ["shipment.created", "shipment.received"]
