"""Distributor authenticity checks: genuine or not, shipped to me or not (only the fact),
contents of cases and pallets; read-only — the code's consumer scan count never moves."""

from __future__ import annotations

import contextlib

import httpx
from litestar import Litestar

from tests.factories.shipping import ShippingWorld, make_sscc, palletise, ship, shipping_world
from tests.support.waiting import wait_until

CHECKS = "/v1/distributor/checks"


async def _scan_total(client: httpx.AsyncClient, w: ShippingWorld, path: str) -> int:
    gtin, code = path.split("/")[2], path.split("/")[4]
    response = await client.get(f"/v1/admin/codes/{gtin}/{code}/scans", headers=w.viewer)
    assert response.status_code == 200, response.text
    total: int = response.json()["total"]
    return total


async def _settled_scan_total(
    client: httpx.AsyncClient, w: ShippingWorld, path: str, want: int
) -> int:
    """The scan log is written behind the scan answer: wait (bounded) for ``want``."""
    total = -1

    async def written() -> bool:
        nonlocal total
        total = await _scan_total(client, w, path)
        return total >= want

    with contextlib.suppress(AssertionError):  # the caller asserts on the total itself
        await wait_until(written, what=f"{want} scans of {path}")
    return total


async def test_check_tells_genuine_and_whether_shipped_to_me(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await shipping_world(app, items=30)
    d1, d2, _ = w.distributors
    await ship(client, w.admin, to=d1, ranges=[w.item_range(0, 10)])
    await ship(client, w.admin, to=d2, ranges=[w.item_range(10, 20)])

    scanned = await client.post("/v1/scans", json={"url": w.item(3), "device_id": "phone-1"})
    assert scanned.status_code == 200, scanned.text
    assert await _settled_scan_total(client, w, w.item(3), 1) == 1

    mine = await client.post(CHECKS, json={"code": w.item(3)}, headers=w.keys[0])
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["genuine"] is True
    assert body["kind"] == "item"
    assert body["destination"] == "you"
    assert body["shipped_to_you"] is True
    assert body["received"] is False
    assert body["gtin"] == w.product.gtin
    assert body["contents"] is None

    theirs = (await client.post(CHECKS, json={"code": w.item(13)}, headers=w.keys[0])).json()
    assert theirs["genuine"] is True
    assert theirs["destination"] == "another_distributor"
    assert theirs["shipped_to_you"] is False
    # Only the fact: nothing names or identifies the other distributor.
    text = str(theirs)
    assert str(d2.id) not in text
    assert d2.code not in text
    assert d2.name not in text
    assert theirs["received"] is None

    unshipped = (await client.post(CHECKS, json={"code": w.item(25)}, headers=w.keys[0])).json()
    assert unshipped["destination"] == "brand"

    forged = w.item(3)[:-1] + ("A" if w.item(3)[-1] != "A" else "B")
    fake = (await client.post(CHECKS, json={"code": forged}, headers=w.keys[0])).json()
    assert fake == {**fake, "genuine": False, "reason": "not_genuine"}

    # Checks by a staff member and by a machine credential alike never count as scans.
    for _ in range(3):
        await client.post(CHECKS, json={"code": w.item(3)}, headers=w.keys[0])
    # A consumer scan after the checks: once the log holds it, it holds anything before it.
    marker = await client.post("/v1/scans", json={"url": w.item(26), "device_id": "phone-2"})
    assert marker.status_code == 200, marker.text
    assert await _settled_scan_total(client, w, w.item(26), 1) == 1
    assert await _scan_total(client, w, w.item(3)) == 1
    assert await _scan_total(client, w, w.item(13)) == 0


async def test_check_case_and_pallet_contents_paginated(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await shipping_world(app, items=30)
    d1 = w.distributors[0]
    sscc = await palletise(client, w, (0, 12), (12, 20))
    await ship(client, w.admin, to=d1, containers=[{"sscc": sscc}])

    case = await client.post(
        CHECKS,
        json={"code": w.case(0)["code"]},
        params={"limit": 5, "offset": 10},
        headers=w.keys[0],
    )
    assert case.status_code == 200, case.text
    body = case.json()
    assert body["kind"] == "case"
    assert body["destination"] == "you"
    assert body["contents"]["total"] == 12
    assert [i["label"] for i in body["contents"]["items"]] == w.item_list([10, 11])

    pallet = (await client.post(CHECKS, json={"sscc": f"(00){sscc}"}, headers=w.keys[0])).json()
    assert pallet["kind"] == "pallet"
    assert pallet["label"] == sscc
    assert pallet["contents"]["total"] == 2
    assert {i["kind"] for i in pallet["contents"]["items"]} == {"case"}

    # Another distributor: genuine, but not theirs.
    other = (await client.post(CHECKS, json={"sscc": sscc}, headers=w.keys[1])).json()
    assert other["destination"] == "another_distributor"
    unknown = (await client.post(CHECKS, json={"sscc": make_sscc()}, headers=w.keys[1])).json()
    assert unknown == {**unknown, "genuine": False, "reason": "unknown_sscc"}


async def test_check_input_errors_and_auth(app: Litestar, client: httpx.AsyncClient) -> None:
    w = await shipping_world(app, items=5, distributors=1)
    for body, field in (
        ({"sscc": "123456789012345678"}, "sscc"),
        ({"code": "not a link"}, "code"),
        ({}, "code"),
        ({"code": w.item(0), "sscc": make_sscc()}, "code"),
        ({"code": w.item(0), "extra": 1}, "extra"),
    ):
        response = await client.post(CHECKS, json=body, headers=w.keys[0])
        assert 400 <= response.status_code < 500, response.text
        assert field in (response.json().get("field") or response.text), response.text
    anonymous = await client.post(CHECKS, json={"code": w.item(0)})
    assert anonymous.status_code == 401
    # An admin token is not a distributor credential.
    assert (await client.post(CHECKS, json={"code": w.item(0)}, headers=w.admin)).status_code == 401
