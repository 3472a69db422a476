"""Admin edits reach the scan path at once: the metadata cache is invalidated after commit."""

from __future__ import annotations

import httpx
from litestar import Litestar

from tests.factories.codes import codes_of, make_roll, scan_path
from tests.factories.tenancy import brand_admin, make_batch, make_product, platform_admin


async def scan(client: httpx.AsyncClient, path: str) -> dict[str, object]:
    response = await client.get(path, headers={"Accept": "application/json"})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_product_batch_and_brand_edits_show_on_the_next_scan(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    brand, headers = await brand_admin(app, client)
    product = await make_product(app, brand, name="Old name")
    batch = await make_batch(app, brand, product)
    roll = await make_roll(app, brand, product, count=10, activate=True, batch=batch)
    first, second, third = codes_of(app, roll, product.gtin, [0, 1, 2])
    assert (await scan(client, scan_path(product.gtin, first)))["product"]["name"] == "Old name"  # type: ignore[index]

    renamed = await client.patch(
        f"/v1/admin/products/{product.id}", json={"name": "New name"}, headers=headers
    )
    assert renamed.status_code == 200, renamed.text
    assert (await scan(client, scan_path(product.gtin, second)))["product"]["name"] == "New name"  # type: ignore[index]

    moved = await client.patch(
        f"/v1/admin/batches/{batch.id}", json={"expiry_date": "2031-01-31"}, headers=headers
    )
    assert moved.status_code == 200, moved.text
    assert (await scan(client, scan_path(product.gtin, third)))["batch"][
        "expiry_date"
    ] == "2031-01-31"  # type: ignore[index]

    root = await platform_admin(app, client)
    threshold = await client.patch(
        f"/v1/admin/brands/{brand.id}", json={"suspicious_distinct_devices": 1}, headers=root
    )
    assert threshold.status_code == 200, threshold.text
    for device in ("phone-one-x", "phone-two-x"):
        verdict = (
            await client.get(
                scan_path(product.gtin, first),
                headers={"Accept": "application/json", "Cookie": f"sgd={device}"},
            )
        ).json()["verdict"]
    assert verdict == "suspicious"  # 3 distinct devices now exceed the new threshold of 1
