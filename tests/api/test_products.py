"""Products: CRUD, GTIN rules, roles, tenant isolation, pagination and filters."""

from __future__ import annotations

import httpx
from litestar import Litestar

from tests.factories.tenancy import (
    brand_admin,
    brand_viewer,
    make_batch,
    make_brand,
    make_product,
    platform_admin,
    random_gtin14,
)

PRODUCTS = "/v1/admin/products"


async def test_product_lifecycle(app: Litestar, client: httpx.AsyncClient) -> None:
    _, admin = await brand_admin(app, client)
    created = await client.post(
        PRODUCTS,
        json={
            "gtin": "96385074",  # GTIN-8
            "name": "Green Tea 250 g",
            "description": "Longjing",
            "image_url": "https://cdn.example.test/tea.png",
            "pin_length": 6,
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    product = created.json()
    assert product["gtin"] == "00000096385074"
    url = f"{PRODUCTS}/{product['id']}"
    assert (await client.get(url, headers=admin)).json() == product
    patched = await client.patch(
        url, json={"name": "Green Tea 500 g", "description": None}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Green Tea 500 g"
    assert patched.json()["description"] is None
    assert patched.json()["image_url"] == product["image_url"]
    same_gtin = await client.patch(url, json={"gtin": "96385074"}, headers=admin)
    assert same_gtin.status_code == 200
    changed_gtin = await client.patch(url, json={"gtin": random_gtin14()}, headers=admin)
    assert changed_gtin.status_code == 422
    assert changed_gtin.json()["code"] == "gtin_immutable"
    assert (await client.delete(url, headers=admin)).status_code == 204
    assert (await client.get(url, headers=admin)).status_code == 404


async def test_product_rules(app: Litestar, client: httpx.AsyncClient) -> None:
    brand, admin = await brand_admin(app, client)
    _, other_admin = await brand_admin(app, client)
    existing = await make_product(app, brand)
    dup = await client.post(
        PRODUCTS, json={"gtin": existing.gtin, "name": "Copy"}, headers=other_admin
    )
    assert dup.status_code == 409
    assert (dup.json()["code"], dup.json()["field"]) == ("gtin_taken", "gtin")
    ftp = await client.post(
        PRODUCTS,
        json={"gtin": random_gtin14(), "name": "x", "image_url": "ftp://example.test/a.png"},
        headers=admin,
    )
    assert (ftp.status_code, ftp.json()["code"], ftp.json()["field"]) == (
        422,
        "invalid_url",
        "image_url",
    )
    in_use = await make_product(app, brand)
    await make_batch(app, brand, in_use)
    refused = await client.delete(f"{PRODUCTS}/{in_use.id}", headers=admin)
    assert refused.status_code == 409
    assert refused.json()["code"] == "product_in_use"


async def test_viewer_reads_but_cannot_write(app: Litestar, client: httpx.AsyncClient) -> None:
    brand, viewer = await brand_viewer(app, client)
    product = await make_product(app, brand)
    assert (await client.get(f"{PRODUCTS}/{product.id}", headers=viewer)).status_code == 200
    writes = [
        await client.post(PRODUCTS, json={"gtin": random_gtin14(), "name": "x"}, headers=viewer),
        await client.patch(f"{PRODUCTS}/{product.id}", json={"name": "y"}, headers=viewer),
        await client.delete(f"{PRODUCTS}/{product.id}", headers=viewer),
    ]
    for response in writes:
        assert response.status_code == 403
        assert response.json()["code"] == "insufficient_role"


async def test_tenant_isolation(app: Litestar, client: httpx.AsyncClient) -> None:
    brand_a, admin_a = await brand_admin(app, client)
    brand_b = await make_brand(app)
    mine = await make_product(app, brand_a)
    theirs = await make_product(app, brand_b)
    url = f"{PRODUCTS}/{theirs.id}"
    for response in [
        await client.get(url, headers=admin_a),
        await client.patch(url, json={"name": "stolen"}, headers=admin_a),
        await client.delete(url, headers=admin_a),
    ]:
        assert response.status_code == 404
        assert response.json()["code"] == "product_not_found"
    listed = (await client.get(PRODUCTS, headers=admin_a)).json()
    assert [p["id"] for p in listed["items"]] == [str(mine.id)]
    # the brand header cannot widen a brand user's scope
    widened = await client.get(PRODUCTS, headers={**admin_a, "X-Scanguard-Brand": str(brand_b.id)})
    assert [p["id"] for p in widened.json()["items"]] == [str(mine.id)]
    # a platform admin acts on brand B by naming it
    platform = await platform_admin(app, client)
    as_b = await client.get(url, headers={**platform, "X-Scanguard-Brand": str(brand_b.id)})
    assert as_b.status_code == 200


async def test_pagination_and_filters(app: Litestar, client: httpx.AsyncClient) -> None:
    brand, viewer = await brand_viewer(app, client)
    names = ["Jasmine Tea", "Black TEA", "Coffee", "Oolong tea", "Cocoa"]
    made = [await make_product(app, brand, name=n) for n in names]
    page1 = (await client.get(PRODUCTS, params={"limit": 2}, headers=viewer)).json()
    page2 = (await client.get(PRODUCTS, params={"limit": 2, "offset": 2}, headers=viewer)).json()
    page3 = (await client.get(PRODUCTS, params={"limit": 2, "offset": 4}, headers=viewer)).json()
    assert page1["total"] == page2["total"] == 5
    ids = [p["id"] for page in (page1, page2, page3) for p in page["items"]]
    assert sorted(ids) == sorted(str(p.id) for p in made)
    assert len(set(ids)) == 5
    teas = (await client.get(PRODUCTS, params={"q": "tea"}, headers=viewer)).json()
    assert sorted(p["name"] for p in teas["items"]) == ["Black TEA", "Jasmine Tea", "Oolong tea"]
    assert teas["total"] == 3
    percent = (await client.get(PRODUCTS, params={"q": "%"}, headers=viewer)).json()
    assert percent["total"] == 0
    by_gtin = (await client.get(PRODUCTS, params={"gtin": made[2].gtin}, headers=viewer)).json()
    assert [p["name"] for p in by_gtin["items"]] == ["Coffee"]
    for params in ({"limit": 0}, {"limit": 201}, {"offset": -1}):
        bad = await client.get(PRODUCTS, params=params, headers=viewer)
        assert bad.status_code == 400
        assert bad.json()["field"] == next(iter(params))
