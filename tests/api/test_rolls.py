"""Code rolls through the admin API: issue, export, lifecycle ranges, code void and lookup."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import uuid
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select, update

from anticounterfeit.catalogue.models import BrandCodeKey
from anticounterfeit.codes.format import INDEX_LIMIT, Keyring, verify_code
from anticounterfeit.codes.models import CodeRangeEvent, CodeRoll
from kernel.audit import AuditEntry
from tests.factories.codes import (
    add_batch,
    add_product,
    codes_of,
    make_roll,
    setup_brand,
)

ROLLS = "/v1/admin/rolls"


async def _count(app: Litestar, model: Any, *where: Any) -> int:
    async with app.state.session_factory() as session:
        query = select(func.count()).select_from(model)
        if where:
            query = query.where(*where)
        return int(await session.scalar(query) or 0)


def _problem(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    if field is not None:
        assert body.get("field") == field, body
    return body


async def test_issue_export_every_code_verifies(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await setup_brand(app)
    product = await add_product(app, world.brand, pin_length=6)
    batch = await add_batch(app, world.brand, product, lot="LOT42")
    r = await client.post(
        ROLLS,
        json={"gtin": product.gtin[1:], "count": 2500, "lot": "LOT42", "note": "line 3"},
        headers=world.admin,
    )
    assert r.status_code == 201, r.text
    roll = r.json()
    assert roll["count"] == 2500
    assert roll["gtin"] == product.gtin
    assert roll["batch_id"] == str(batch.id)
    assert roll["lot"] == "LOT42"

    r = await client.get(f"{ROLLS}/{roll['id']}/export.csv", headers=world.admin)
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["seq", "code", "url", "pin"]
    assert len(rows) == 2501
    keyring: Keyring = app.state.keyring
    base = app.state.settings.gateway.resolver_base_url
    seen = set()
    for i, (seq, code, url, pin) in enumerate(rows[1:]):
        assert int(seq) == i
        decoded = verify_code(keyring, code, product.gtin)
        assert decoded is not None
        assert decoded.kid == roll["kid"]
        seen.add(decoded.index)
        assert url == f"{base}/01/{product.gtin}/10/LOT42/21/{code}"
        assert len(pin) == 6
        assert pin.isdigit()
    assert len(seen) == 2500
    assert await _count(app, AuditEntry, AuditEntry.action == "roll.exported") == 1

    # sub-range keeps the roll's numbering
    r = await client.get(
        f"{ROLLS}/{roll['id']}/export.csv",
        params={"from_seq": 10, "to_seq": 13},
        headers=world.admin,
    )
    sub = list(csv.reader(io.StringIO(r.text)))
    assert sub[1:] == rows[11:14]


async def test_export_without_lot_or_pin(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await setup_brand(app)
    product = await add_product(app, world.brand)
    roll = await make_roll(app, world.brand, product, count=5)
    r = await client.get(f"{ROLLS}/{roll.id}/export.csv", headers=world.admin)
    lines = r.text.splitlines()
    assert lines[0] == "seq,code,url"
    base = app.state.settings.gateway.resolver_base_url
    assert lines[1].split(",")[2] == f"{base}/01/{product.gtin}/21/{lines[1].split(',')[1]}"
    assert lines[1:] == [
        f"{i},{c},{base}/01/{product.gtin}/21/{c}"
        for i, c in enumerate(codes_of(app, roll, product.gtin, range(5)))
    ]


async def test_million_codes_is_one_row(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await setup_brand(app)
    product = await add_product(app, world.brand)
    r = await client.post(
        ROLLS,
        json={"product_id": str(product.id), "count": 1_000_000, "activate": True},
        headers=world.admin,
    )
    assert r.status_code == 201, r.text
    assert await _count(app, CodeRoll) == 1
    assert await _count(app, CodeRangeEvent) == 1
    detail = (await client.get(f"{ROLLS}/{r.json()['id']}", headers=world.admin)).json()
    assert detail["status_counts"] == {"inactive": 0, "active": 1_000_000, "void": 0}


async def test_idempotency_replay_and_conflict(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await setup_brand(app)
    product = await add_product(app, world.brand)
    body = {"product_id": str(product.id), "count": 10, "activate": True}
    headers = {**world.admin, "Idempotency-Key": "order-1"}
    first = await client.post(ROLLS, json=body, headers=headers)
    again = await client.post(ROLLS, json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert first.json()["idempotency_key"] == "order-1"
    for changed in ({**body, "count": 11}, {**body, "activate": False}, {**body, "note": "x"}):
        r = await client.post(ROLLS, json=changed, headers=headers)
        assert _problem(r, 409)["code"] == "idempotency_key_reused"
    assert await _count(app, CodeRoll) == 1
    # the same key of another brand is another key
    other = await setup_brand(app)
    other_product = await add_product(app, other.brand)
    r = await client.post(
        ROLLS,
        json={**body, "product_id": str(other_product.id)},
        headers={**other.admin, "Idempotency-Key": "order-1"},
    )
    assert r.status_code == 201


async def test_concurrent_issuance_disjoint(
    app: Litestar, client: httpx.AsyncClient, backend: str
) -> None:
    world = await setup_brand(app)
    product = await add_product(app, world.brand)
    n = 8 if backend == "services" else 4
    responses = await asyncio.gather(
        *(
            client.post(
                ROLLS, json={"product_id": str(product.id), "count": 1000 + i}, headers=world.admin
            )
            for i in range(n)
        )
    )
    assert [r.status_code for r in responses] == [201] * n, [r.text for r in responses]
    async with app.state.session_factory() as session:
        rows = (await session.execute(select(CodeRoll.first_index, CodeRoll.count))).all()
        next_index = await session.scalar(
            select(BrandCodeKey.next_index).where(BrandCodeKey.brand_id == world.brand.id)
        )
    ranges = sorted((a, a + c) for a, c in rows)
    assert len(ranges) == n
    assert all(prev[1] <= cur[0] for prev, cur in itertools.pairwise(ranges))
    assert ranges[0][0] == 0
    assert ranges[-1][1] == next_index == sum(1000 + i for i in range(n))


async def test_concurrent_same_idempotency_key(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await setup_brand(app)
    product = await add_product(app, world.brand)
    headers = {**world.admin, "Idempotency-Key": "race"}
    responses = await asyncio.gather(
        *(
            client.post(ROLLS, json={"product_id": str(product.id), "count": 50}, headers=headers)
            for _ in range(4)
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await _count(app, CodeRoll) == 1


async def test_lifecycle_ranges_and_lookup(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await setup_brand(app)
    product = await add_product(app, world.brand)
    batch_a = await add_batch(app, world.brand, product, lot="A1")
    batch_b = await add_batch(app, world.brand, product, lot="B2")
    roll = await make_roll(app, world.brand, product, count=100, activate=False, batch=batch_a)
    url = f"{ROLLS}/{roll.id}"
    codes = codes_of(app, roll, product.gtin, range(100))

    async def status(seq: int) -> dict[str, Any]:
        r = await client.get(f"/v1/admin/codes/{product.gtin}/{codes[seq]}", headers=world.viewer)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        assert body["seq"] == seq
        assert body["roll_id"] == str(roll.id)
        assert body["valid"]
        return body

    assert (await status(5))["status"] == "inactive"
    r = await client.post(
        f"{url}/activate", json={"seq_from": 0, "seq_to": 50}, headers=world.admin
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        f"{url}/void", json={"seq_from": 40, "seq_to": 45, "reason": "torn"}, headers=world.admin
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        f"{url}/bind-batch",
        json={"batch_id": str(batch_b.id), "seq_from": 30, "seq_to": 60},
        headers=world.admin,
    )
    assert r.status_code == 200, r.text
    # void is final: activating the whole roll keeps 40..44 void
    r = await client.post(f"{url}/activate", json={}, headers=world.admin)
    detail = r.json()
    assert detail["status_counts"] == {"inactive": 0, "active": 95, "void": 5}

    s10, s42, s55 = await status(10), await status(42), await status(55)
    assert (s10["status"], s10["batch"]["lot"]) == ("active", "A1")
    assert (s42["status"], s42["void_reason"], s42["batch"]["lot"]) == ("void", "torn", "B2")
    assert (s55["status"], s55["batch"]["lot"]) == ("active", "B2")
    assert s10["product"]["gtin"] == product.gtin
    # the scan path's cache sees the committed state
    meta = await app.state.metadata.roll(roll.id)
    assert meta.state_of(roll.first_index + 42).status == "void"
    assert await _count(app, CodeRangeEvent) == 4
    actions = await _count(app, AuditEntry, AuditEntry.action.like("roll.%"))
    assert actions == 5  # issued + 4 changes


async def test_void_codes_by_list(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await setup_brand(app)
    product = await add_product(app, world.brand)
    roll = await make_roll(app, world.brand, product, count=100)
    roll2 = await make_roll(app, world.brand, product, count=10)
    codes = codes_of(app, roll, product.gtin, [3, 4, 5, 9, 20])
    other_roll_code = codes_of(app, roll2, product.gtin, [0])[0]
    await client.post(
        f"{ROLLS}/{roll.id}/void",
        json={"seq_from": 20, "seq_to": 21, "reason": "x"},
        headers=world.admin,
    )
    other = await setup_brand(app)
    other_product = await add_product(app, other.brand)
    other_roll = await make_roll(app, other.brand, other_product, count=5)
    foreign = codes_of(app, other_roll, other_product.gtin, [1])[0]
    beyond = codes_of(app, roll2, product.gtin, [10])[0]  # valid MAC, index never issued yet
    payload = [
        *({"gtin": product.gtin, "code": c} for c in codes),
        {"gtin": product.gtin, "code": other_roll_code.lower()},
        {"gtin": product.gtin, "code": "2" * 20},
        {"gtin": "12345", "code": codes[0]},
        {"gtin": other_product.gtin, "code": foreign},
        {"gtin": product.gtin, "code": beyond},
    ]
    r = await client.post(
        "/v1/admin/codes/void", json={"codes": payload, "reason": "damaged"}, headers=world.admin
    )
    assert r.status_code == 200, r.text
    results = [x["result"] for x in r.json()["results"]]
    assert results == [
        "voided",
        "voided",
        "voided",
        "voided",
        "already_void",
        "voided",
        "invalid_code",
        "invalid_code",
        "not_found",
        "not_found",
    ]
    assert r.json()["voided"] == 5
    # 3..5 is one run, 9 another; roll2 one: three events (+1 range void earlier)
    assert await _count(app, CodeRangeEvent, CodeRangeEvent.action == "void") == 4
    detail = (await client.get(f"{ROLLS}/{roll.id}", headers=world.viewer)).json()
    assert detail["status_counts"]["void"] == 5
    body = (
        await client.get(f"/v1/admin/codes/{product.gtin}/{codes[3]}", headers=world.viewer)
    ).json()
    assert (body["status"], body["void_reason"]) == ("void", "damaged")


async def test_tenant_isolation(app: Litestar, client: httpx.AsyncClient) -> None:
    mine = await setup_brand(app)
    theirs = await setup_brand(app)
    product = await add_product(app, theirs.brand)
    roll = await make_roll(app, theirs.brand, product, count=10)
    code = codes_of(app, roll, product.gtin, [0])[0]
    for method, path, body in (
        ("GET", f"{ROLLS}/{roll.id}", None),
        ("GET", f"{ROLLS}/{roll.id}/export.csv", None),
        ("POST", f"{ROLLS}/{roll.id}/activate", {}),
        ("POST", f"{ROLLS}/{roll.id}/void", {"seq_from": 0, "seq_to": 1, "reason": "x"}),
        ("GET", f"/v1/admin/codes/{product.gtin}/{code}", None),
    ):
        r = await client.request(method, path, json=body, headers=mine.admin)
        assert r.status_code == 404, (path, r.text)
    listing = (await client.get(ROLLS, headers=mine.admin)).json()
    assert listing["total"] == 0
    assert listing["items"] == []
    r = await client.post(
        ROLLS, json={"product_id": str(product.id), "count": 1}, headers=mine.admin
    )
    _problem(r, 422, "product_id")
    assert (await client.get(ROLLS, headers=theirs.viewer)).json()["total"] == 1


async def test_viewer_cannot_issue_or_export(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await setup_brand(app)
    product = await add_product(app, world.brand)
    roll = await make_roll(app, world.brand, product, count=3)
    r = await client.post(
        ROLLS, json={"product_id": str(product.id), "count": 1}, headers=world.viewer
    )
    _problem(r, 403)
    _problem(await client.get(f"{ROLLS}/{roll.id}/export.csv", headers=world.viewer), 403)
    _problem(await client.post(f"{ROLLS}/{roll.id}/activate", json={}, headers=world.viewer), 403)
    _problem(await client.get(ROLLS), 401)
    assert (await client.get(f"{ROLLS}/{roll.id}", headers=world.viewer)).status_code == 200


async def test_list_filters_and_pages(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await setup_brand(app)
    p1 = await add_product(app, world.brand)
    p2 = await add_product(app, world.brand)
    batch = await add_batch(app, world.brand, p1)
    for _ in range(3):
        await make_roll(app, world.brand, p1, count=2)
    await make_roll(app, world.brand, p1, count=2, batch=batch)
    await make_roll(app, world.brand, p2, count=2)
    page = (await client.get(ROLLS, params={"limit": 2}, headers=world.viewer)).json()
    assert (page["total"], len(page["items"])) == (5, 2)
    by_product = (
        await client.get(ROLLS, params={"product_id": str(p1.id)}, headers=world.viewer)
    ).json()
    assert by_product["total"] == 4
    by_batch = (
        await client.get(ROLLS, params={"batch_id": str(batch.id)}, headers=world.viewer)
    ).json()
    assert by_batch["total"] == 1
    assert by_batch["items"][0]["lot"] == batch.lot


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"count": 0}, 400, "count"),
        ({"count": 100_000_001}, 400, "count"),
        ({"count": "ten"}, 400, "count"),
        ({"count": 5, "product_id": None, "gtin": None}, 422, "product_id"),
        ({"count": 5, "gtin": "4006381333932"}, 422, "gtin"),
        ({"count": 5, "gtin": "4006381333931"}, 422, "gtin"),
        ({"count": 5, "batch_id": str(uuid.uuid4())}, 422, "batch_id"),
        ({"count": 5, "lot": "NOPE"}, 422, "lot"),
        ({"count": 5, "colour": "red"}, 400, None),
    ],
)
async def test_issue_bad_input(
    app: Litestar, client: httpx.AsyncClient, body: dict[str, Any], status: int, field: str | None
) -> None:
    world = await setup_brand(app)
    product = await add_product(app, world.brand)
    payload = {"product_id": str(product.id), **body}
    if payload.get("product_id") is None or "gtin" in body:
        payload.pop("product_id", None)
        payload = {k: v for k, v in payload.items() if v is not None}
    _problem(await client.post(ROLLS, json=payload, headers=world.admin), status, field)
    assert await _count(app, CodeRoll) == 0


async def test_range_bad_input(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await setup_brand(app)
    product = await add_product(app, world.brand)
    other_product = await add_product(app, world.brand)
    foreign_batch = await add_batch(app, world.brand, other_product)
    roll = await make_roll(app, world.brand, product, count=10)
    url = f"{ROLLS}/{roll.id}"
    cases = [
        ("activate", {"seq_from": 5, "seq_to": 5}, 422, "seq_to"),
        ("activate", {"seq_from": 10}, 422, "seq_from"),
        ("activate", {"seq_to": 11}, 422, "seq_to"),
        ("activate", {"seq_from": -1}, 400, "seq_from"),
        ("void", {"seq_from": 2, "seq_to": 1, "reason": "x"}, 422, "seq_to"),
        ("void", {"seq_from": 0, "seq_to": 1}, 422, "reason"),
        ("void", {"seq_to": 1, "reason": "x"}, 422, "seq_from"),
        ("void", {"seq_from": 0, "seq_to": 1, "reason": "x" * 501}, 400, "reason"),
        ("void", {"seq_from": 0, "seq_to": 1, "reason": "   "}, 422, "reason"),
        ("bind-batch", {"batch_id": str(foreign_batch.id)}, 422, "batch_id"),
        ("bind-batch", {"batch_id": str(uuid.uuid4())}, 422, "batch_id"),
    ]
    for action, body, status, field in cases:
        r = await client.post(f"{url}/{action}", json=body, headers=world.admin)
        _problem(r, status, field)
    r = await client.get(
        f"{url}/export.csv", params={"from_seq": 3, "to_seq": 20}, headers=world.admin
    )
    _problem(r, 422, "to_seq")
    assert await _count(app, CodeRangeEvent) == 1  # only make_roll's activation


async def test_index_space_exhausted(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await setup_brand(app)
    product = await add_product(app, world.brand)
    async with app.state.session_factory() as session:
        await session.execute(
            update(BrandCodeKey)
            .where(BrandCodeKey.brand_id == world.brand.id)
            .values(next_index=INDEX_LIMIT - 10)
        )
        await session.commit()
    body = {"product_id": str(product.id), "count": 11}
    _problem(await client.post(ROLLS, json=body, headers=world.admin), 409, "count")
    r = await client.post(ROLLS, json={**body, "count": 10}, headers=world.admin)
    assert r.status_code == 201, r.text
    roll = await client.get(f"{ROLLS}/{r.json()['id']}/export.csv", headers=world.admin)
    last = roll.text.splitlines()[-1].split(",")[1]
    decoded = verify_code(app.state.keyring, last, product.gtin)
    assert decoded is not None
    assert decoded.index == INDEX_LIMIT - 1


async def test_unknown_code_lookup(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await setup_brand(app)
    product = await add_product(app, world.brand)
    roll = await make_roll(app, world.brand, product, count=3)
    code = codes_of(app, roll, product.gtin, [0])[0]
    other = await add_product(app, world.brand)
    for gtin, c in ((product.gtin, "2" * 20), (other.gtin, code), ("abc", code)):
        body = _problem(await client.get(f"/v1/admin/codes/{gtin}/{c}", headers=world.viewer), 404)
        assert body["code"] == "unknown_code"
