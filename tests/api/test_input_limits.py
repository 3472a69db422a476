"""Inputs no schema can express answer a 400 naming the field, never a 500 (issue 12 §1)."""

from __future__ import annotations

import httpx
from litestar import Litestar

from kernel.wire import MAX_JSON_DEPTH, json_problem
from tests.factories.tenancy import brand_admin

PRODUCTS = "/v1/admin/products"
CATALOGUE = "/v1/admin/loyalty/catalogue"


async def test_offset_beyond_64_bits_is_a_400(app: Litestar, client: httpx.AsyncClient) -> None:
    _, admin = await brand_admin(app, client)
    for path in (PRODUCTS, "/v1/admin/rolls", CATALOGUE):
        response = await client.get(f"{path}?offset={2**63}", headers=admin)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["field"] == "offset", path
        assert (await client.get(f"{path}?offset={2**63 - 1}", headers=admin)).status_code == 200


async def test_huge_path_ids_are_a_400(app: Litestar, client: httpx.AsyncClient) -> None:
    _, admin = await brand_admin(app, client)
    for path in (
        f"/v1/admin/webhooks/deliveries/{2**64 - 1}",
        f"/v1/admin/webhooks/deliveries/{2**63}",
    ):
        response = await client.get(path, headers=admin)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["field"] == "delivery_id"
    assert (
        await client.get(f"/v1/admin/webhooks/deliveries/{2**63 - 1}", headers=admin)
    ).status_code == 404


async def test_nul_in_a_body_is_a_400(app: Litestar, client: httpx.AsyncClient) -> None:
    _, admin = await brand_admin(app, client)
    body = b'{"gtin": "96385074", "name": "Tea\\u0000"}'
    response = await client.post(
        PRODUCTS, content=body, headers={**admin, "content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (response.json()["code"], response.json()["field"]) == ("nul_character", "name")
    # An escaped backslash followed by "u0000" is six ordinary characters, not a NUL.
    fine = await client.post(
        PRODUCTS,
        content=b'{"gtin": "96385074", "name": "Tea \\\\u0000"}',
        headers={**admin, "content-type": "application/json"},
    )
    assert fine.status_code == 201, fine.text
    assert fine.json()["name"] == "Tea \\u0000"


async def test_nul_in_a_filter_is_a_400(app: Litestar, client: httpx.AsyncClient) -> None:
    _, admin = await brand_admin(app, client)
    response = await client.get(f"{PRODUCTS}?q=tea%00", headers=admin)
    assert response.status_code == 400, response.text
    assert (response.json()["code"], response.json()["field"]) == ("nul_character", "q")


async def test_deep_json_is_a_400(app: Litestar, client: httpx.AsyncClient) -> None:
    _, admin = await brand_admin(app, client)
    headers = {**admin, "content-type": "application/json"}
    deep = b"[" * 1000 + b"]" * 1000
    for path in (PRODUCTS, CATALOGUE):
        response = await client.post(path, content=deep, headers=headers)
        assert response.status_code == 400, (path, response.text)
        assert (response.json()["code"], response.json()["field"]) == ("too_deep", "body")
    # Brackets inside strings do not count as nesting.
    named = b'{"gtin": "96385074", "name": "' + b"[" * 100 + b'"}'
    assert (await client.post(PRODUCTS, content=named, headers=headers)).status_code == 201


def test_depth_limit_is_exact() -> None:
    at_limit = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert json_problem(at_limit) is None
    assert json_problem(b"[" + at_limit + b"]") is not None


async def test_empty_patch_is_a_400(app: Litestar, client: httpx.AsyncClient) -> None:
    _, admin = await brand_admin(app, client)
    created = await client.post(
        CATALOGUE, json={"name": "Mug", "cost_points": 10, "stock": 5}, headers=admin
    )
    assert created.status_code == 201, created.text
    url = f"{CATALOGUE}/{created.json()['id']}"
    response = await client.patch(url, json={}, headers=admin)
    assert response.status_code == 400, response.text
    assert (response.json()["code"], response.json()["field"]) == ("empty_patch", "body")
    assert (await client.patch(url, json={"stock": 6}, headers=admin)).json()["stock"] == 6
