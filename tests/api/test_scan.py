"""The consumer scan path through HTTP: verdicts, content negotiation, limits, exactly-once."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select

from gateway.models import CodeFirstScan, Scan
from kernel.settings import Settings
from tests.conftest import running_app
from tests.factories.codes import codes_of, make_roll, scan_path
from tests.factories.tenancy import brand_admin, make_batch, make_brand, make_product


async def scannable(
    app: Litestar, *, count: int = 20, activate: bool = True, with_batch: bool = True
):  # type: ignore[no-untyped-def]
    brand = await make_brand(app)
    product = await make_product(app, brand)
    batch = await make_batch(app, brand, product) if with_batch else None
    roll = await make_roll(app, brand, product, count=count, activate=activate, batch=batch)
    return brand, product, batch, roll


async def scan_json(
    client: httpx.AsyncClient, path: str, device: str = "device-a"
) -> httpx.Response:
    return await client.get(path, headers={"Accept": "application/json", "Cookie": f"sgd={device}"})


async def post_scan(
    client: httpx.AsyncClient, url: str, device: str, **extra: object
) -> httpx.Response:
    return await client.post("/v1/scans", json={"url": url, "device_id": device, **extra})


async def count_rows(app: Litestar, model: type, **where: object) -> int:
    async with app.state.session_factory() as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int((await session.execute(query)).scalar_one())


async def test_first_scan_is_genuine_then_already_scanned(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    _, product, batch, roll = await scannable(app)
    [code] = codes_of(app, roll, product.gtin, [3])
    first = await scan_json(client, scan_path(product.gtin, code))
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["verdict"] == "genuine"
    assert body["product"]["gtin"] == product.gtin
    assert body["product"]["name"] == product.name
    assert body["batch"]["lot"] == batch.lot
    second = (await scan_json(client, scan_path(product.gtin, code))).json()
    assert second["verdict"] == "already_scanned"
    assert second["scans"]["count"] == 2
    assert second["scans"]["first_scanned_at"] is not None
    assert await count_rows(app, Scan) == 2
    assert await count_rows(app, CodeFirstScan) == 1


async def test_same_device_rescanning_is_not_suspicious(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    _, product, _, roll = await scannable(app)
    [code] = codes_of(app, roll, product.gtin, [0])
    verdicts = [
        (await scan_json(client, scan_path(product.gtin, code), "one-phone")).json()["verdict"]
        for _ in range(8)
    ]
    assert verdicts[0] == "genuine"
    assert set(verdicts[1:]) == {"already_scanned"}


async def test_many_distinct_devices_make_a_code_suspicious(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    _, product, _, roll = await scannable(app)
    [code] = codes_of(app, roll, product.gtin, [1])
    limit = app.state.settings.gateway.suspicious_distinct_devices
    verdicts = [
        (await scan_json(client, scan_path(product.gtin, code), f"phone-{i}")).json()["verdict"]
        for i in range(limit + 2)
    ]
    assert verdicts[0] == "genuine"
    assert verdicts[1:limit] == ["already_scanned"] * (limit - 1)
    assert verdicts[limit:] == ["suspicious", "suspicious"]


async def test_forged_code_is_counterfeit_and_touches_no_table(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    _, product, _, roll = await scannable(app)
    [code] = codes_of(app, roll, product.gtin, [0])
    forged = code[:-1] + ("2" if code[-1] != "2" else "3")
    response = await scan_json(client, scan_path(product.gtin, forged))
    assert response.status_code == 200
    body = response.json()
    assert body["verdict"] == "counterfeit"
    assert "product" not in body
    assert await count_rows(app, Scan) == 0
    assert app.state.scans.counterfeits.recorded == 1


async def test_genuine_code_under_another_gtin_is_counterfeit(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    brand, product, _, roll = await scannable(app)
    other = await make_product(app, brand)
    [code] = codes_of(app, roll, product.gtin, [0])
    body = (await scan_json(client, scan_path(other.gtin, code))).json()
    assert body["verdict"] == "counterfeit"


async def test_inactive_and_void_codes(app: Litestar, client: httpx.AsyncClient) -> None:
    _, product, _, roll = await scannable(app, activate=False)
    [code] = codes_of(app, roll, product.gtin, [5])
    body = (await scan_json(client, scan_path(product.gtin, code))).json()
    assert body["verdict"] == "inactive"
    assert "product" not in body

    brand2, product2, _, roll2 = await scannable(app)
    [void_code] = codes_of(app, roll2, product2.gtin, [2])
    assert (await scan_json(client, scan_path(product2.gtin, void_code))).json()[
        "verdict"
    ] == "genuine"
    _, headers = await brand_admin(app, client, brand2)
    voided = await client.post(
        f"/v1/admin/rolls/{roll2.id}/void",
        json={"seq_from": 2, "seq_to": 3, "reason": "label damaged on line 4"},
        headers=headers,
    )
    assert voided.status_code in (200, 201), voided.text
    body = (await scan_json(client, scan_path(product2.gtin, void_code))).json()
    assert body["verdict"] == "void"
    assert body["void_reason"] == "label damaged on line 4"


async def test_browser_gets_a_page_and_a_device_cookie(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    _, product, _, roll = await scannable(app)
    [code] = codes_of(app, roll, product.gtin, [7])
    response = await client.get(scan_path(product.gtin, code), headers={"Accept": "text/html,*/*"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'class="banner genuine"' in response.text
    assert product.name in response.text
    assert "sgd" in response.cookies


async def test_digital_link_with_lot_qualifier(app: Litestar, client: httpx.AsyncClient) -> None:
    _, product, batch, roll = await scannable(app)
    [code] = codes_of(app, roll, product.gtin, [4])
    response = await scan_json(client, f"/01/{product.gtin}/10/{batch.lot}/21/{code}")
    assert response.json()["verdict"] == "genuine"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/01/09506000134353/21/ABC", "path"),
        ("/01/12345/21/ABC", "path"),
        ("/01/0950600013435X/21/ABC", "path"),
    ],
)
async def test_malformed_gtin_is_a_problem_naming_the_field(
    client: httpx.AsyncClient, path: str, field: str
) -> None:
    response = await client.get(path, headers={"Accept": "application/json"})
    assert response.status_code == 400  # the resolver: a malformed link is a bad request
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == field


async def test_post_scan_json_api(app: Litestar, client: httpx.AsyncClient) -> None:
    _, product, _, roll = await scannable(app)
    [code] = codes_of(app, roll, product.gtin, [9])
    url = f"https://id.example.test/01/{product.gtin}/21/{code}"
    response = await post_scan(
        client, url, "wx-openid-hash-1", location={"lat": 23.13, "lon": 113.26, "accuracy_m": 30}
    )
    assert response.status_code == 200, response.text
    assert response.json()["verdict"] == "genuine"
    async with app.state.session_factory() as session:
        scan = (await session.execute(select(Scan))).scalar_one()
    assert scan.location_source == "gps"
    assert scan.lat == pytest.approx(23.13)
    assert scan.device_hash != "wx-openid-hash-1"  # raw device ids are never stored


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"url": "not a link at all", "device_id": "d"}, 422, "url"),
        ({"url": "https://x.test/01/09506000134352/21/AAAA", "device_id": ""}, 400, "device_id"),
        ({"url": "https://x.test/01/09506000134352/21/AAAA"}, 400, "device_id"),
        (
            {"url": "https://x.test/01/09506000134352/21/AAAA", "device_id": "d", "extra": 1},
            400,
            None,
        ),
        (
            {
                "url": "https://x.test/01/09506000134352/21/AAAA",
                "device_id": "d",
                "location": {"lat": 91, "lon": 0},
            },
            400,
            "location.lat",
        ),
        ({"url": 12, "device_id": "d"}, 400, "url"),
    ],
)
async def test_post_scan_rejects_bad_input(
    client: httpx.AsyncClient, body: dict[str, object], status: int, field: str | None
) -> None:
    response = await client.post("/v1/scans", json=body)
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["code"]
    if field:
        assert problem["field"] == field


async def test_malformed_json_body_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/scans", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_fifty_simultaneous_first_scans_give_one_genuine(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    _, product, _, roll = await scannable(app)
    [code] = codes_of(app, roll, product.gtin, [11])
    url = f"https://id.example.test/01/{product.gtin}/21/{code}"
    responses = await asyncio.gather(*(post_scan(client, url, f"racer-{i}") for i in range(50)))
    verdicts = [r.json()["verdict"] for r in responses]
    assert verdicts.count("genuine") == 1, verdicts
    assert await count_rows(app, CodeFirstScan) == 1
    assert await count_rows(app, Scan, verdict="genuine") == 1


async def test_first_scan_is_exactly_once_even_when_redis_forgets(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    _, product, _, roll = await scannable(app)
    [code] = codes_of(app, roll, product.gtin, [12])
    assert (await scan_json(client, scan_path(product.gtin, code), "first")).json()[
        "verdict"
    ] == "genuine"
    runtime = app.state.runtime
    keys = [k async for k in runtime.redis.scan_iter(match=runtime.key("gw", "*"))]
    await runtime.redis.delete(*keys)  # Redis restarted without persistence
    again = (await scan_json(client, scan_path(product.gtin, code), "second")).json()
    assert again["verdict"] == "already_scanned"
    assert again["scans"]["count"] == 2
    third = (await scan_json(client, scan_path(product.gtin, code), "third")).json()
    assert third["verdict"] == "already_scanned"
    assert third["scans"]["count"] == 3


async def test_clone_suspicion_survives_a_redis_restart(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    _, product, _, roll = await scannable(app)
    [code] = codes_of(app, roll, product.gtin, [13])
    limit = app.state.settings.gateway.suspicious_distinct_devices
    for i in range(limit + 1):
        await scan_json(client, scan_path(product.gtin, code), f"clone-{i}")
    runtime = app.state.runtime
    keys = [k async for k in runtime.redis.scan_iter(match=runtime.key("gw", "*"))]
    await runtime.redis.delete(*keys)
    after_restart = (await scan_json(client, scan_path(product.gtin, code), "clone-0")).json()
    assert after_restart["verdict"] == "suspicious"
    again = (await scan_json(client, scan_path(product.gtin, code), "clone-1")).json()
    assert again["verdict"] == "suspicious"


async def test_rate_limit_per_ip_answers_429_with_retry_after(settings: Settings) -> None:
    async with running_app(settings.with_overrides(gateway={"rate_limit_ip_per_minute": 3})) as (
        app,
        client,
    ):
        _, product, _, roll = await scannable(app)
        codes = codes_of(app, roll, product.gtin, [0, 1, 2, 3])
        statuses = [
            (await scan_json(client, scan_path(product.gtin, c), f"d{i}")).status_code
            for i, c in enumerate(codes)
        ]
        assert statuses == [200, 200, 200, 429]
        limited = await scan_json(client, scan_path(product.gtin, codes[0]), "d9")
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["code"] == "rate_limited"


async def test_forged_codes_are_limited_in_process(settings: Settings) -> None:
    async with running_app(settings.with_overrides(gateway={"counterfeit_ip_per_minute": 2})) as (
        _,
        client,
    ):
        statuses = [
            (await scan_json(client, f"/01/09506000134352/21/{'A' * 19}{c}")).status_code
            for c in "2345"
        ]
        assert statuses == [200, 200, 429, 429]


async def test_client_ip_from_trusted_proxy_is_used(settings: Settings) -> None:
    async with running_app(settings, client_ip="127.0.0.1") as (app, client):
        _, product, _, roll = await scannable(app)
        [code] = codes_of(app, roll, product.gtin, [0])
        await client.get(
            scan_path(product.gtin, code),
            headers={"Accept": "application/json", "X-Forwarded-For": "198.51.100.23, 127.0.0.1"},
        )
        async with app.state.session_factory() as session:
            scan = (await session.execute(select(Scan))).scalar_one()
        assert scan.ip == "198.51.100.23"


async def test_forwarded_header_from_untrusted_peer_is_ignored(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    _, product, _, roll = await scannable(app)
    [code] = codes_of(app, roll, product.gtin, [0])
    await client.get(
        scan_path(product.gtin, code),
        headers={"Accept": "application/json", "X-Forwarded-For": "198.51.100.23"},
    )
    async with app.state.session_factory() as session:
        scan = (await session.execute(select(Scan))).scalar_one()
    assert scan.ip == "203.0.113.7"  # the direct peer, not the header


async def test_scans_work_without_redis_and_health_says_degraded(settings: Settings) -> None:
    dead_redis = settings.with_overrides(redis={"url": "redis://127.0.0.1:1/0", "timeout_s": 0.2})
    async with running_app(dead_redis) as (app, client):
        _, product, _, roll = await scannable(app)
        [code] = codes_of(app, roll, product.gtin, [0])
        first = await scan_json(client, scan_path(product.gtin, code), "a")
        assert first.json()["verdict"] == "genuine"
        second = (await scan_json(client, scan_path(product.gtin, code), "b")).json()
        assert second["verdict"] == "already_scanned"
        assert second["scans"]["count"] == 2
        health = (await client.get("/health")).json()
        assert health["status"] == "degraded"
        assert health["redis"]["state"] == "down"
        ready = await client.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"]["redis"].startswith("error")


async def test_ready_reports_both_stores(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}
