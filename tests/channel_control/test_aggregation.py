"""Aggregation over HTTP: bulk pack with per-code failures, idempotent replays, unpack,
repack, pallets, history; ranges stored as ranges."""

from __future__ import annotations

import httpx
from litestar import Litestar
from sqlalchemy import func, select

from anticounterfeit.codes.format import encode_code
from channel_control.logistics.models import Aggregation
from kernel.audit import AuditEntry
from tests.factories.codes import add_product, make_roll, scan_path, setup_brand
from tests.factories.shipping import make_sscc, pack, palletise, ship, shipping_world, unpack

PACK = "/v1/admin/aggregation/pack"


async def _open_rows(app: Litestar) -> int:
    async with app.state.session_factory() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(Aggregation)
                .where(Aggregation.unpacked_at.is_(None))
            )
            or 0
        )


async def test_bulk_pack_reports_each_bad_code_and_packs_the_rest(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await shipping_world(app, items=3000)
    other = await setup_brand(app)
    other_product = await add_product(app, other.brand)
    other_roll = await make_roll(app, other.brand, other_product, count=5)
    key = app.state.keyring.get(other_roll.kid)
    foreign = scan_path(
        other_product.gtin, encode_code(key, other_roll.first_index, other_product.gtin)
    )
    good = w.item_list(range(0, 2000))
    forged = good[5][:-1] + ("A" if good[5][-1] != "A" else "B")
    # Items 2000-2009 go into another case first.
    await pack(client, w.admin, w.case(1), codes=w.item_list(range(2000, 2010)))

    mixed = [
        *good,
        forged,
        foreign,
        "https://x.test/not-a-link",
        good[7],
        *w.item_list(range(2000, 2010)),
    ]
    body = await pack(
        client,
        w.admin,
        w.case(0),
        codes=mixed,
        key="pack-1",
    )
    assert body["units"] == 2000
    assert body["unchanged"] == 0
    by_code: dict[str, list[str]] = {}
    for failure in body["failures"]:
        by_code.setdefault(failure["code"], []).append(failure["field"])
    assert by_code["not_genuine"] == ["codes[2000]"]
    assert by_code["wrong_brand"] == ["codes[2001]"]
    assert by_code["malformed"] == ["codes[2002]"]
    assert by_code["duplicate_in_request"] == ["codes[2003]"]
    assert by_code["already_packed"] == [f"codes[{i}]" for i in range(2004, 2014)]
    assert sum(len(v) for v in by_code.values()) == len(body["failures"])
    # 2000 consecutive codes are one stored range.
    assert await _open_rows(app) == 2

    # A replay with the same key answers the same, and packs nothing again.
    again = await pack(
        client,
        w.admin,
        w.case(0),
        codes=mixed,
        key="pack-1",
    )
    assert again["replayed"] is True
    assert {k: v for k, v in again.items() if k != "replayed"} == {
        k: v for k, v in body.items() if k != "replayed"
    }
    # The same key with another body is a conflict naming the header.
    clash = await client.post(
        PACK,
        json={"container": w.case(0), "kind": "case", "codes": good[:3]},
        headers={**w.admin, "Idempotency-Key": "pack-1"},
    )
    assert clash.status_code == 409
    assert clash.json()["field"] == "Idempotency-Key"
    # Without a key, packing the same codes again is harmless: they are already there.
    plain = await pack(client, w.admin, w.case(0), codes=good[:10])
    assert plain["units"] == 0
    assert plain["unchanged"] == 10
    assert plain["failures"] == []


async def test_range_pack_partial_failure_is_reported_as_sub_ranges(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await shipping_world(app, items=1000)
    await pack(client, w.admin, w.case(0), ranges=[w.item_range(100, 200)])
    body = await pack(client, w.admin, w.case(1), ranges=[w.item_range(0, 1000)])
    assert body["units"] == 900
    (failure,) = body["failures"]
    assert failure["code"] == "already_packed"
    assert failure["field"] == "ranges[0]"
    assert failure["count"] == 100
    assert failure["index"] == w.items.first_index + 100
    # Repack with move: the hundred leave case 0 for case 1.
    moved = await pack(client, w.admin, w.case(1), ranges=[w.item_range(150, 160)], move=True)
    assert moved["units"] == 10
    assert moved["failures"] == []
    history = await client.get(
        "/v1/admin/aggregation/history", params={"code": w.item(155)}, headers=w.viewer
    )
    assert history.status_code == 200, history.text
    periods = history.json()
    assert [p["parent_label"].endswith(w.case(0)["code"].rsplit("/", 1)[1]) for p in periods] == [
        True,
        False,
    ]
    assert periods[0]["unpacked_at"] is not None
    assert periods[1]["unpacked_at"] is None
    # Bad range bounds are a per-input failure too.
    bad = await pack(client, w.admin, w.case(2), ranges=[w.item_range(990, 2000)])
    assert bad["failures"][0]["code"] == "invalid_range"


async def test_cases_onto_pallet_by_sscc_then_unpack_all(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await shipping_world(app, items=100)
    await pack(client, w.admin, w.case(0), ranges=[w.item_range(0, 50)])
    await pack(client, w.admin, w.case(1), ranges=[w.item_range(50, 100)])
    sscc = make_sscc()
    body = await pack(
        client,
        w.admin,
        {"sscc": sscc},
        kind="pallet",
        cases=[w.case(0), w.case(1), w.case(0), {"sscc": make_sscc()}],
    )
    assert body["containers"] == 2
    assert [f["code"] for f in body["failures"]] == ["duplicate_in_request", "wrong_kind"]
    assert body["container"]["label"] == sscc
    # A wrong check digit is a 422 naming the field.
    wrong = sscc[:-1] + str((int(sscc[-1]) + 1) % 10)
    bad = await client.post(
        PACK,
        json={"container": {"sscc": wrong}, "kind": "pallet", "cases": [w.case(2)]},
        headers=w.admin,
    )
    assert bad.status_code == 422
    assert bad.json()["field"] == "container.sscc"
    assert bad.json()["code"] == "invalid_sscc"
    # Items cannot go onto a pallet directly.
    direct = await client.post(
        PACK,
        json={"container": {"sscc": sscc}, "kind": "pallet", "codes": [w.item(0)]},
        headers=w.admin,
    )
    assert direct.status_code == 422
    assert direct.json()["field"] == "codes"
    out = await unpack(client, w.admin, {"sscc": sscc}, all=True)
    assert out["containers"] == 2
    history = await client.get(
        "/v1/admin/aggregation/history", params={"sscc": sscc}, headers=w.viewer
    )
    assert [p["unpacked_at"] is not None for p in history.json()] == [True, True]


async def test_bad_shapes_are_4xx_naming_the_field(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await shipping_world(app, items=10, distributors=1)
    cases = [
        ({"container": w.case(0), "kind": "crate"}, "kind"),
        ({"container": w.case(0), "kind": "case", "ranges": [{"roll_id": "x"}]}, "ranges"),
        ({"container": {}, "kind": "case", "codes": [w.item(1)]}, "container"),
        ({"container": w.case(0), "kind": "case", "surprise": 1}, "surprise"),
    ]
    for body, field in cases:
        response = await client.post(PACK, json=body, headers=w.admin)
        assert 400 <= response.status_code < 500, response.text
        assert field in (response.json().get("field") or response.text), response.text
    viewer = await client.post(
        PACK, json={"container": w.case(0), "kind": "case", "codes": [w.item(1)]}, headers=w.viewer
    )
    assert viewer.status_code == 403


async def test_partial_unpack_of_scattered_codes_splits_one_row_exactly(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await shipping_world(app, items=2000)
    await pack(client, w.admin, w.case(0), ranges=[w.item_range(0, 2000)])
    evens = list(range(0, 100, 2))
    out = await unpack(client, w.admin, w.case(0), codes=w.item_list(evens), key="u-1")
    assert out["units"] == 50
    assert out["failures"] == []
    # 50 pieces out, 50 stretches still in (1, 3, ..., 97, and 99..1999).
    assert await _open_rows(app) == 50

    async def periods(seq: int) -> list[tuple[bool, bool]]:
        response = await client.get(
            "/v1/admin/aggregation/history", params={"code": w.item(seq)}, headers=w.viewer
        )
        assert response.status_code == 200, response.text
        return [(p["child_count"] == 1, p["unpacked_at"] is None) for p in response.json()]

    assert await periods(2) == [(True, False)]  # its own one-unit period, closed
    assert await periods(3) == [(True, True)]  # still packed
    assert await periods(500) == [(False, True)]
    # Unpacking them again: each is now a per-code failure, nothing changes.
    again = await unpack(client, w.admin, w.case(0), codes=w.item_list(evens[:3]))
    assert [f["code"] for f in again["failures"]] == ["not_in_container"] * 3
    # Repack scattered codes from case 0 into case 1 in one call.
    moved = await pack(
        client, w.admin, w.case(1), codes=w.item_list(range(101, 1101, 2)), move=True
    )
    assert moved["units"] == 500
    assert moved["failures"] == []
    assert await periods(101) == [(True, False), (True, True)]
    assert await periods(102) == [(True, True)]  # a one-unit stretch left in case 0
    assert await periods(1500) == [(False, True)]


async def test_control_characters_are_answered_not_stored_raw(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await shipping_world(app, items=5, distributors=1)
    refused = await pack(
        client, w.admin, w.case(0), codes=[w.item(1), "\x00bad"], key="nul-1", expect=400
    )
    assert refused["code"] == "nul_character"
    assert refused["field"] == "codes[1]"
    # Nothing of the refused request was kept: the same key packs the clean list afresh.
    body = await pack(client, w.admin, w.case(0), codes=[w.item(1)], key="nul-1")
    assert body["units"] == 1
    assert body["replayed"] is False
    shipment = await client.post(
        "/v1/admin/shipments",
        json={
            "document_number": "DN\x00",
            "kind": "outbound",
            "to_distributor_id": str(w.distributors[0].id),
            "codes": [w.item(2)],
        },
        headers=w.admin,
    )
    assert shipment.status_code == 400
    assert shipment.json()["field"] == "document_number"


async def test_distributor_breaks_and_repacks_only_goods_at_its_place(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await shipping_world(app, items=40)
    d1, d2, _ = w.distributors
    sscc = await palletise(client, w, (0, 20), (20, 40))
    await ship(client, w.admin, to=d1, containers=[{"sscc": sscc}])
    mine = "/v1/distributor/aggregation"

    # D2 cannot touch D1's pallet: not found, nothing said about it.
    other = await client.post(
        f"{mine}/unpack", json={"container": {"sscc": sscc}, "all": True}, headers=w.keys[1]
    )
    assert other.status_code == 404
    assert other.json()["field"] == "container"
    broken = await client.post(
        f"{mine}/unpack",
        json={"container": {"sscc": sscc}, "all": True},
        headers={**w.keys[0], "Idempotency-Key": "k1"},
    )
    assert broken.status_code == 200, broken.text
    assert broken.json()["containers"] == 2
    # D1 repacks five items of case 0 into a new case of its own; factory goods are refused.
    repack = await client.post(
        f"{mine}/pack",
        json={
            "container": w.case(5),
            "kind": "case",
            "ranges": [w.item_range(0, 5)],
            "codes": w.item_list([39]),
            "move": True,
        },
        headers=w.keys[0],
    )
    assert repack.status_code == 200, repack.text
    assert repack.json()["units"] == 6
    unshipped = await pack(client, w.admin, w.case(6), codes=[])  # an empty case at the brand
    assert unshipped["units"] == 0
    foreign = await client.post(
        f"{mine}/pack",
        json={"container": w.case(6), "kind": "case", "codes": w.item_list([10]), "move": True},
        headers=w.keys[1],
    )
    assert foreign.status_code == 200, foreign.text
    assert [f["code"] for f in foreign.json()["failures"]] == ["not_held_by_you"]
    # The new case travels to D2 with its six units; the rest stays at D1.
    await ship(
        client,
        w.keys[0],
        kind="transfer",
        to=d2,
        containers=[w.case(5)],
        path="/v1/distributor/shipments",
    )
    where = (
        await client.get("/v1/admin/whereabouts", params={"code": w.item(39)}, headers=w.viewer)
    ).json()
    assert where["current"]["distributor"]["id"] == str(d2.id)
    assert where["current"]["via"] == "case"
    rest = (
        await client.get("/v1/admin/whereabouts", params={"code": w.item(6)}, headers=w.viewer)
    ).json()
    assert rest["current"]["distributor"]["id"] == str(d1.id)
    async with app.state.session_factory() as session:
        audits = (
            await session.scalars(
                select(AuditEntry.details).where(AuditEntry.action == "aggregation.unpack")
            )
        ).all()
    assert [a.get("distributor_id") for a in audits] == [str(d1.id)]
