"""Batches: CRUD, lot and date rules, tenant isolation, filters."""

from __future__ import annotations

from datetime import date

import httpx
from litestar import Litestar

from tests.factories.tenancy import brand_admin, brand_viewer, make_batch, make_brand, make_product

BATCHES = "/v1/admin/batches"


async def test_batch_lifecycle_and_rules(app: Litestar, client: httpx.AsyncClient) -> None:
    brand, admin = await brand_admin(app, client)
    product = await make_product(app, brand)
    body = {
        "product_id": str(product.id),
        "lot": "L2025-01/A",
        "production_date": "2025-01-10",
        "expiry_date": "2026-01-10",
        "line": "line 3",
    }
    created = await client.post(BATCHES, json=body, headers=admin)
    assert created.status_code == 201, created.text
    batch = created.json()
    assert batch["lot"] == "L2025-01/A"
    dup = await client.post(BATCHES, json=body, headers=admin)
    assert (dup.status_code, dup.json()["code"], dup.json()["field"]) == (409, "lot_taken", "lot")
    early = await client.post(
        BATCHES, json={**body, "lot": "L2", "expiry_date": "2025-01-09"}, headers=admin
    )
    assert (early.status_code, early.json()["code"], early.json()["field"]) == (
        422,
        "expiry_before_production",
        "expiry_date",
    )
    bad_lot = await client.post(BATCHES, json={**body, "lot": "LOT #1"}, headers=admin)
    assert (bad_lot.status_code, bad_lot.json()["field"]) == (422, "lot")
    long_lot = await client.post(BATCHES, json={**body, "lot": "L" * 21}, headers=admin)
    assert (long_lot.status_code, long_lot.json()["field"]) == (400, "lot")
    url = f"{BATCHES}/{batch['id']}"
    patched = await client.patch(url, json={"line": None, "expiry_date": None}, headers=admin)
    assert patched.status_code == 200, patched.text
    assert (patched.json()["line"], patched.json()["expiry_date"]) == (None, None)
    before = await client.patch(url, json={"production_date": "2030-01-01"}, headers=admin)
    assert before.status_code == 200
    bad_patch = await client.patch(url, json={"expiry_date": "2029-12-31"}, headers=admin)
    assert bad_patch.status_code == 422
    assert bad_patch.json()["field"] == "expiry_date"
    assert (await client.delete(url, headers=admin)).status_code == 204
    assert (await client.get(url, headers=admin)).status_code == 404


async def test_batch_tenant_isolation(app: Litestar, client: httpx.AsyncClient) -> None:
    brand_a, admin_a = await brand_admin(app, client)
    brand_b = await make_brand(app)
    product_b = await make_product(app, brand_b)
    batch_b = await make_batch(app, brand_b, product_b)
    mine = await make_batch(app, brand_a, await make_product(app, brand_a))
    url = f"{BATCHES}/{batch_b.id}"
    for response in [
        await client.get(url, headers=admin_a),
        await client.patch(url, json={"line": "x"}, headers=admin_a),
        await client.delete(url, headers=admin_a),
    ]:
        assert response.status_code == 404
    foreign_product = await client.post(
        BATCHES,
        json={"product_id": str(product_b.id), "lot": "X1", "production_date": "2025-01-01"},
        headers=admin_a,
    )
    assert foreign_product.status_code == 404
    assert foreign_product.json()["field"] == "product_id"
    listed = (await client.get(BATCHES, headers=admin_a)).json()
    assert [b["id"] for b in listed["items"]] == [str(mine.id)]


async def test_batch_filters(app: Litestar, client: httpx.AsyncClient) -> None:
    brand, viewer = await brand_viewer(app, client)
    tea, coffee = await make_product(app, brand), await make_product(app, brand)
    await make_batch(app, brand, tea, lot="T1", production_date=date(2025, 1, 1))
    await make_batch(app, brand, tea, lot="T2", production_date=date(2025, 2, 1))
    await make_batch(app, brand, coffee, lot="T1", production_date=date(2025, 3, 1))

    async def lots(**params: str) -> list[str]:
        response = await client.get(BATCHES, params=params, headers=viewer)
        assert response.status_code == 200, response.text
        return [b["lot"] for b in response.json()["items"]]

    assert await lots(product_id=str(tea.id)) == ["T1", "T2"]
    assert await lots(lot="T1") == ["T1", "T1"]
    assert await lots(produced_from="2025-01-15") == ["T2", "T1"]
    assert await lots(produced_from="2025-01-15", produced_to="2025-02-28") == ["T2"]
    assert await lots(limit="1", offset="1") == ["T2"]
    bad = await client.get(BATCHES, params={"produced_from": "yesterday"}, headers=viewer)
    assert bad.status_code == 400
    assert bad.json()["field"] == "produced_from"
