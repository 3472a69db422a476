"""Campaign matching, budgets and caps over HTTP on both backends."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from litestar import Litestar

from kernel.db import utcnow
from tests.factories.loyalty import (
    LoyaltyBrand,
    claim,
    consumer,
    make_campaign,
    scan,
    setup_loyalty,
)
from tests.factories.tenancy import make_product


async def _claim_fresh(
    app: Litestar, client: httpx.AsyncClient, setup: LoyaltyBrand, seq: int, **scan_extra: Any
) -> httpx.Response:
    device = f"phone-{seq}"
    await scan(client, setup.url(seq), device, **scan_extra)
    return await claim(client, await consumer(app), setup.url(seq), device)


async def test_highest_points_win_ties_by_earliest_start_and_one_multiplier_applies(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    setup = await setup_loyalty(app, client, points=None)
    now = utcnow()
    low = await make_campaign(client, setup.admin, points=5)
    early = await make_campaign(
        client, setup.admin, points=20, starts_at=(now - timedelta(days=3)).isoformat()
    )
    await make_campaign(client, setup.admin, points=20)  # same points, later start
    double = await make_campaign(client, setup.admin, multiplier=2.0)
    await make_campaign(client, setup.admin, multiplier=1.5)  # lower multiplier: unused
    body = (await _claim_fresh(app, client, setup, 0)).json()
    assert body["campaign_id"] == early["id"]
    assert body["bonus_campaign_id"] == double["id"]
    assert (body["base_points"], body["bonus_points"], body["points"]) == (20, 20, 40)
    assert low["id"] != body["campaign_id"]


async def test_filters_product_region_window(app: Litestar, client: httpx.AsyncClient) -> None:
    setup = await setup_loyalty(app, client, points=None)
    now = utcnow()
    other_product = str((await make_product(app, setup.brand)).id)  # the brand's, not scanned
    await make_campaign(client, setup.admin, points=50, product_ids=[other_product])
    await make_campaign(client, setup.admin, points=40, regions=["JP"])
    await make_campaign(
        client,
        setup.admin,
        points=30,
        starts_at=(now + timedelta(days=1)).isoformat(),
        ends_at=(now + timedelta(days=2)).isoformat(),
    )
    mine = await make_campaign(client, setup.admin, points=3, product_ids=[str(setup.product.id)])
    body = (await _claim_fresh(app, client, setup, 1)).json()
    assert (body["campaign_id"], body["points"]) == (mine["id"], 3)


async def test_budget_falls_back_then_runs_out(app: Litestar, client: httpx.AsyncClient) -> None:
    setup = await setup_loyalty(app, client, points=None)
    rich = await make_campaign(client, setup.admin, points=100, budget_claims=1)
    small = await make_campaign(client, setup.admin, points=1, budget_points=2)
    first = (await _claim_fresh(app, client, setup, 0)).json()
    assert first["campaign_id"] == rich["id"]
    second = (await _claim_fresh(app, client, setup, 1)).json()
    third = (await _claim_fresh(app, client, setup, 2)).json()
    assert second["campaign_id"] == third["campaign_id"] == small["id"]
    fourth = await _claim_fresh(app, client, setup, 3)
    assert (fourth.status_code, fourth.json()["code"]) == (409, "no_campaign")
    listed = (await client.get("/v1/admin/loyalty/campaigns", headers=setup.admin)).json()
    spent = {c["id"]: (c["spent_claims"], c["spent_points"]) for c in listed["items"]}
    assert spent == {rich["id"]: (1, 100), small["id"]: (2, 2)}


async def test_budget_is_never_overspent_under_concurrency(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    setup = await setup_loyalty(app, client, points=None, count=30)
    await make_campaign(client, setup.admin, points=10, budget_points=50)
    devices = [f"phone-{i}" for i in range(30)]
    for seq, device in enumerate(devices):
        await scan(client, setup.url(seq), device)
    people = [await consumer(app) for _ in devices]
    responses = await asyncio.gather(
        *(claim(client, p, setup.url(i), devices[i]) for i, p in enumerate(people))
    )
    codes = sorted(r.json().get("code", "ok") for r in responses)
    assert codes.count("ok") == 5, codes
    assert codes.count("no_campaign") == 25
    listed = (await client.get("/v1/admin/loyalty/campaigns", headers=setup.admin)).json()
    assert (listed["items"][0]["spent_points"], listed["items"][0]["spent_claims"]) == (50, 5)


async def test_per_consumer_daily_and_total_caps(app: Litestar, client: httpx.AsyncClient) -> None:
    setup = await setup_loyalty(app, client, points=None)
    capped = await make_campaign(
        client, setup.admin, points=9, daily_cap_per_consumer=2, total_cap_per_consumer=3
    )
    fallback = await make_campaign(client, setup.admin, points=1)
    who = await consumer(app)
    results = []
    for seq in range(4):
        await scan(client, setup.url(seq), "my-phone")
        response = await claim(client, who, setup.url(seq), "my-phone")
        assert response.status_code == 201, response.text
        results.append(response.json()["campaign_id"])
    assert results == [capped["id"], capped["id"], fallback["id"], fallback["id"]]
    # Another consumer is not capped by the first one's claims.
    other = await consumer(app)
    await scan(client, setup.url(10), "other-phone")
    response = await claim(client, other, setup.url(10), "other-phone")
    assert response.json()["campaign_id"] == capped["id"]


async def test_campaign_input_is_validated(app: Litestar, client: httpx.AsyncClient) -> None:
    setup = await setup_loyalty(app, client, points=None)
    now = utcnow()
    window = {"starts_at": now.isoformat(), "ends_at": (now - timedelta(days=1)).isoformat()}
    bad_window = await client.post(
        "/v1/admin/loyalty/campaigns",
        json={"name": "x", "points": 1, **window},
        headers=setup.admin,
    )
    assert (bad_window.status_code, bad_window.json()["field"]) == (422, "ends_at")
    window["ends_at"] = (now + timedelta(days=1)).isoformat()
    no_points = await client.post(
        "/v1/admin/loyalty/campaigns", json={"name": "x", **window}, headers=setup.admin
    )
    assert no_points.status_code == 422
    bad_region = await client.post(
        "/v1/admin/loyalty/campaigns",
        json={"name": "x", "points": 1, "regions": ["china"], **window},
        headers=setup.admin,
    )
    assert bad_region.status_code == 400
    created = await make_campaign(client, setup.admin, points=1, budget_points=10)
    await _claim_fresh(app, client, setup, 0)
    shrink = await client.patch(
        f"/v1/admin/loyalty/campaigns/{created['id']}",
        json={"budget_points": 0},
        headers=setup.admin,
    )
    assert (shrink.status_code, shrink.json()["field"]) == (422, "budget_points")
    paused = await client.patch(
        f"/v1/admin/loyalty/campaigns/{created['id']}", json={"active": False}, headers=setup.admin
    )
    assert paused.json()["active"] is False
    after = await _claim_fresh(app, client, setup, 1)
    assert after.json()["code"] == "no_campaign"
