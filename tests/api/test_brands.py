"""Brands: platform-only writes, tenant visibility, code key assignment and rotation."""

from __future__ import annotations

import httpx
from litestar import Litestar
from sqlalchemy import select

from anticounterfeit.catalogue.models import BrandCodeKey
from anticounterfeit.catalogue.services import active_code_key
from kernel.uow import session_scope
from tests.factories.tenancy import brand_admin, make_brand, platform_admin

BRANDS = "/v1/admin/brands"


async def test_platform_admin_creates_brands_with_smallest_free_kid(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    headers = await platform_admin(app, client)
    first = await client.post(BRANDS, json={"slug": "acme", "name": "Acme"}, headers=headers)
    assert first.status_code == 201, first.text
    assert first.json()["active_kid"] == 1
    second = await client.post(
        BRANDS,
        json={"slug": "globex", "name": "Globex", "suspicious_distinct_devices": 3},
        headers=headers,
    )
    assert second.json()["active_kid"] == 2
    assert second.json()["suspicious_distinct_devices"] == 3
    taken = await client.post(BRANDS, json={"slug": "acme", "name": "Again"}, headers=headers)
    assert taken.status_code == 409
    assert taken.json()["code"] == "slug_taken"
    bad_slug = await client.post(BRANDS, json={"slug": "Not A Slug", "name": "x"}, headers=headers)
    assert bad_slug.status_code == 400
    assert bad_slug.json()["field"] == "slug"
    listed_response = await client.get(BRANDS, headers=headers)
    assert listed_response.status_code == 200, listed_response.text
    listed = listed_response.json()
    assert [b["slug"] for b in listed["items"]] == ["acme", "globex"]
    patched = await client.patch(
        f"{BRANDS}/{first.json()['id']}",
        json={"name": "Acme Corp", "suspicious_distinct_devices": None},
        headers=headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Acme Corp"


async def test_no_free_code_key_is_a_clear_409(app: Litestar, client: httpx.AsyncClient) -> None:
    headers = await platform_admin(app, client)
    for _ in app.state.settings.auth.code_keyring:
        await make_brand(app)
    response = await client.post(BRANDS, json={"slug": "late", "name": "Late"}, headers=headers)
    assert response.status_code == 409
    assert response.json()["code"] == "no_free_code_key"
    assert "SCANGUARD_CODE_KEYS" in response.json()["detail"]


async def test_rotate_key_retires_the_old_kid(app: Litestar, client: httpx.AsyncClient) -> None:
    headers = await platform_admin(app, client)
    brand = await make_brand(app)
    async with session_scope(app.state.session_factory) as session:
        old_kid = (await active_code_key(session, brand.id)).kid
    response = await client.post(f"{BRANDS}/{brand.id}/rotate-key", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["retired_kid"] == old_kid
    assert body["active_kid"] != old_kid
    async with session_scope(app.state.session_factory) as session:
        keys = (
            (await session.execute(select(BrandCodeKey).where(BrandCodeKey.brand_id == brand.id)))
            .scalars()
            .all()
        )
        assert {(k.kid, k.active, k.retired_at is not None) for k in keys} == {
            (old_kid, False, True),
            (body["active_kid"], True, False),
        }
        assert (await active_code_key(session, brand.id)).kid == body["active_kid"]


async def test_brand_users_see_only_their_brand(app: Litestar, client: httpx.AsyncClient) -> None:
    brand_a, admin_a = await brand_admin(app, client)
    brand_b = await make_brand(app)
    listed = (await client.get(BRANDS, headers=admin_a)).json()
    assert [b["id"] for b in listed["items"]] == [str(brand_a.id)]
    assert listed["total"] == 1
    assert (await client.get(f"{BRANDS}/{brand_a.id}", headers=admin_a)).status_code == 200
    hidden = await client.get(f"{BRANDS}/{brand_b.id}", headers=admin_a)
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "brand_not_found"
    for method, path in [
        ("POST", BRANDS),
        ("PATCH", f"{BRANDS}/{brand_a.id}"),
        ("POST", f"{BRANDS}/{brand_a.id}/rotate-key"),
    ]:
        response = await client.request(
            method,
            path,
            json={"slug": "zz", "name": "x"} if method == "POST" else {"name": "taken over"},
            headers=admin_a,
        )
        assert response.status_code == 403, (method, path, response.text)


async def test_platform_admin_needs_the_brand_header_for_brand_data(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    headers = await platform_admin(app, client)
    brand = await make_brand(app)
    missing = await client.get("/v1/admin/products", headers=headers)
    assert missing.status_code == 400
    assert missing.json()["code"] == "brand_required"
    assert missing.json()["field"] == "X-Scanguard-Brand"
    garbage = await client.get(
        "/v1/admin/products", headers={**headers, "X-Scanguard-Brand": "not-a-uuid"}
    )
    assert garbage.status_code == 400
    unknown = await client.get(
        "/v1/admin/products",
        headers={**headers, "X-Scanguard-Brand": "00000000-0000-4000-8000-000000000000"},
    )
    assert unknown.status_code == 404
    ok = await client.get(
        "/v1/admin/products", headers={**headers, "X-Scanguard-Brand": str(brand.id)}
    )
    assert ok.status_code == 200
