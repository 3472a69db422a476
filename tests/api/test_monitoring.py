"""Brand managers see a code's scan history and counterfeit attempts, their own brand only."""

from __future__ import annotations

import httpx
from litestar import Litestar

from tests.factories.codes import codes_of, make_roll, scan_path
from tests.factories.tenancy import brand_admin, brand_viewer, make_product


async def test_code_scan_history_lists_scans_newest_first(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    brand, headers = await brand_viewer(app, client)
    product = await make_product(app, brand)
    roll = await make_roll(app, brand, product, count=10, activate=True)
    [code] = codes_of(app, roll, product.gtin, [4])
    for device in ("a", "b", "a"):
        await client.get(
            scan_path(product.gtin, code),
            headers={"Accept": "application/json", "Cookie": f"sgd=device-{device}"},
        )
    response = await client.get(f"/v1/admin/codes/{product.gtin}/{code}/scans", headers=headers)
    assert response.status_code == 200, response.text
    history = response.json()
    assert history["total"] == 3
    assert history["distinct_devices"] == 2
    assert [s["verdict"] for s in history["scans"]] == [
        "already_scanned",
        "already_scanned",
        "genuine",
    ]
    assert history["first_scanned_at"] == history["scans"][-1]["scanned_at"]
    page = (
        await client.get(
            f"/v1/admin/codes/{product.gtin}/{code}/scans?limit=1&offset=2", headers=headers
        )
    ).json()
    assert [s["verdict"] for s in page["scans"]] == ["genuine"]


async def test_scan_history_of_another_brands_code_is_404(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    brand_a, _ = await brand_admin(app, client)
    _, headers_b = await brand_admin(app, client)
    product = await make_product(app, brand_a)
    roll = await make_roll(app, brand_a, product, count=5, activate=True)
    [code] = codes_of(app, roll, product.gtin, [0])
    await client.get(scan_path(product.gtin, code), headers={"Accept": "application/json"})
    response = await client.get(f"/v1/admin/codes/{product.gtin}/{code}/scans", headers=headers_b)
    assert response.status_code == 404  # a genuine code, but brand A's: as unknown as a forgery
    assert response.json()["code"] == "unknown_code"
    assert response.json()["field"] == "code"
    assert "scans" not in response.json()
    forged = code[:-1] + ("2" if code[-1] != "2" else "3")
    missing = await client.get(f"/v1/admin/codes/{product.gtin}/{forged}/scans", headers=headers_b)
    assert missing.status_code == 404
    assert missing.json()["code"] == "unknown_code"


async def test_counterfeit_attempts_are_aggregated_per_ip_and_listed(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    brand, headers = await brand_admin(app, client)
    product = await make_product(app, brand)
    for tail in "2345":
        await client.get(
            f"/01/{product.gtin}/21/{'A' * 19}{tail}", headers={"Accept": "application/json"}
        )
    await client.get(f"/01/{product.gtin}/21/SHORT", headers={"Accept": "application/json"})
    await app.state.scans.counterfeits.flush()
    response = await client.get("/v1/admin/counterfeit-attempts", headers=headers)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == 1
    [attempt] = page["items"]
    assert attempt["gtin"] == product.gtin
    assert attempt["ip"] == "203.0.113.7"
    assert attempt["count"] == 5
    assert attempt["product_id"] == str(product.id)
    # another flush adds to the same hourly row instead of a new one
    await client.get(f"/01/{product.gtin}/21/{'A' * 20}", headers={"Accept": "application/json"})
    await app.state.scans.counterfeits.flush()
    again = (
        await client.get(f"/v1/admin/counterfeit-attempts?gtin={product.gtin}", headers=headers)
    ).json()
    assert again["items"][0]["count"] == 6
    _, other = await brand_admin(app, client)
    assert (await client.get("/v1/admin/counterfeit-attempts", headers=other)).json()["total"] == 0


async def test_monitoring_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/admin/counterfeit-attempts")
    assert response.status_code == 401
    assert response.json()["code"] == "missing_token"
