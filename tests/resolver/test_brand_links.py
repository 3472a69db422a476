"""Brand links in the admin API (per product, batch, code range; audited; tenant-isolated) and
what the resolver makes of them: 307 redirects, language choice, linksets, defaults."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select

from gateway.models import Scan
from kernel.audit import AuditEntry
from tests.factories.codes import codes_of, make_roll
from tests.factories.tenancy import brand_admin, make_batch, make_brand, make_product

VOC = "https://gs1.org/voc/"


async def _count(app: Litestar, query: Any) -> int:
    async with app.state.session_factory() as session:
        return int((await session.execute(query)).scalar_one())


async def _link(
    client: httpx.AsyncClient, headers: dict[str, str], **body: object
) -> dict[str, Any]:
    response = await client.post("/v1/admin/links/", json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def standard_links(  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient, admin: dict[str, str], product, batch, roll
) -> list[dict[str, Any]]:
    """Product pip links in English (default) and Chinese (default), a batch safety link and a
    promotion for the roll's first five codes."""
    pid = str(product.id)
    specs: list[dict[str, object]] = [
        {"link_type": "gs1:pip", "href": "https://b.example/en", "title": "Product",
         "language": "en", "default": True},
        {"link_type": "gs1:pip", "href": "https://b.example/zh", "title": "产品",
         "language": "zh-CN", "default": True},
        {"batch_id": str(batch.id), "link_type": "https://gs1.org/voc/safetyInfo",
         "href": "https://b.example/batch-safety", "title": "Safety"},
        {"roll_id": str(roll.id), "first_seq": 0, "last_seq": 4, "link_type": "gs1:promotion",
         "href": "https://b.example/promo", "title": "Promo", "media_type": "text/html"},
    ]  # fmt: skip
    return [await _link(client, admin, product_id=pid, **spec) for spec in specs]


async def world(app: Litestar, client: httpx.AsyncClient):  # type: ignore[no-untyped-def]
    brand = await make_brand(app)
    _, admin = await brand_admin(app, client, brand)
    product = await make_product(app, brand)
    batch = await make_batch(app, brand, product)
    other_batch = await make_batch(app, brand, product)
    roll = await make_roll(app, brand, product, count=20, activate=True, batch=batch)
    return admin, product, batch, other_batch, roll


async def test_links_crud_is_audited_and_paginated(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    admin, product, batch, _, roll = await world(app, client)
    made = await standard_links(client, admin, product, batch, roll)
    assert [m["scope"] for m in made] == ["product", "product", "batch", "code_range"]
    assert made[2]["link_type"] == "gs1:safetyInfo"  # given as https://gs1.org/voc/safetyInfo
    page = (await client.get("/v1/admin/links/?limit=2", headers=admin)).json()
    assert page["total"] == 4
    assert len(page["items"]) == 2
    changed = await client.patch(
        f"/v1/admin/links/{made[0]['id']}", json={"title": "Product page"}, headers=admin
    )
    assert changed.json()["title"] == "Product page"
    gone = await client.delete(f"/v1/admin/links/{made[3]['id']}", headers=admin)
    assert gone.status_code == 204
    assert (await client.get(f"/v1/admin/links/{made[3]['id']}", headers=admin)).status_code == 404
    for action in ("link.create", "link.update", "link.delete"):
        query = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
        assert await _count(app, query) >= 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"href": "http://b.example/p"}, "href"),
        ({"href": "javascript:alert(1)//x"}, "href"),
        ({"link_type": "gs1:noSuchThing"}, "link_type"),
        ({"link_type": "gs1:defaultLink"}, "link_type"),
        ({"roll_id": None, "first_seq": 1}, "roll_id"),
    ],
)
async def test_invalid_links_are_422(
    app: Litestar, client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    admin, product, *_ = await world(app, client)
    base = {
        "product_id": str(product.id),
        "link_type": "gs1:pip",
        "href": "https://b.example/",
        "title": "T",
    }
    response = await client.post("/v1/admin/links/", json={**base, **body}, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


async def test_links_are_tenant_isolated(app: Litestar, client: httpx.AsyncClient) -> None:
    admin, product, *_ = await world(app, client)
    link = await _link(
        client,
        admin,
        product_id=str(product.id),
        link_type="gs1:pip",
        href="https://a.example/",
        title="A",
    )
    _, intruder = await brand_admin(app, client, await make_brand(app))
    assert (await client.get(f"/v1/admin/links/{link['id']}", headers=intruder)).status_code == 404
    patch = await client.patch(
        f"/v1/admin/links/{link['id']}", json={"href": "https://evil.example/"}, headers=intruder
    )
    assert patch.status_code == 404
    assert (await client.get("/v1/admin/links/", headers=intruder)).json()["total"] == 0
    steal = await client.post(
        "/v1/admin/links/",
        headers=intruder,
        json={
            "product_id": str(product.id),
            "link_type": "gs1:pip",
            "href": "https://evil.example/",
            "title": "x",
        },
    )
    assert steal.status_code == 404


async def test_resolver_redirects_to_brand_links_by_type_and_language(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    admin, product, batch, other_batch, roll = await world(app, client)
    await standard_links(client, admin, product, batch, roll)
    gtin = product.gtin

    default = await client.get(f"/01/{gtin}", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert default.status_code == 307
    assert default.headers["location"] == "https://b.example/zh"
    assert default.headers["access-control-allow-origin"] == "*"
    english = await client.get(f"/01/{gtin}?linkType=gs1:pip", headers={"Accept-Language": "en-GB"})
    assert english.headers["location"] == "https://b.example/en"
    batch_safety = await client.get(f"/01/{gtin}/10/{batch.lot}?linkType=gs1:safetyInfo")
    assert batch_safety.headers["location"] == "https://b.example/batch-safety"
    other = await client.get(f"/01/{gtin}/10/{other_batch.lot}?linkType=gs1:safetyInfo")
    assert other.status_code == 404

    inside, outside = codes_of(app, roll, gtin, [2, 9])
    promo = await client.get(f"/01/{gtin}/21/{inside}?linkType=gs1:promotion")
    assert promo.headers["location"] == "https://b.example/promo"
    assert (await client.get(f"/01/{gtin}/21/{outside}?linkType=gs1:promotion")).status_code == 404
    # the code's own batch counts, even without /10/ in the path
    safety = await client.get(f"/01/{gtin}/21/{inside}?linkType=gs1:safetyInfo")
    assert safety.headers["location"] == "https://b.example/batch-safety"
    linkset = (await client.get(f"/01/{gtin}/21/{inside}?linkType=all")).json()["linkset"][0]
    assert {t["href"] for t in linkset[f"{VOC}pip"]} == {
        "https://b.example/en",
        "https://b.example/zh",
    }
    # a serialised code's default stays its verdict, not the brand's default pip
    assert linkset[f"{VOC}defaultLink"] == linkset[f"{VOC}verificationService"]
    assert await _count(app, select(func.count()).select_from(Scan)) == 0
