"""Brand admin loyalty API: tenant isolation, roles, consumer lookup, statistics, claimers."""

from __future__ import annotations

import httpx
from litestar import Litestar

from kernel.db import utcnow
from loyalty.queries import claimers_in_range
from tests.factories.loyalty import claim, consumer, make_campaign, scan, setup_loyalty
from tests.factories.tenancy import brand_viewer, platform_admin
from tests.loyalty.test_rewards import grant, make_item, redeem


async def test_brands_cannot_see_or_change_each_others_loyalty_data(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    a = await setup_loyalty(app, client)
    b = await setup_loyalty(app, client)
    campaign_a = (await client.get("/v1/admin/loyalty/campaigns", headers=a.admin)).json()
    campaign_id = campaign_a["items"][0]["id"]
    who = await consumer(app)
    await scan(client, a.url(0), "phone-a")
    claimed = (await claim(client, who, a.url(0), "phone-a")).json()
    item_a = await make_item(client, a, kind="red_envelope", amount_cents=100)
    assert (await redeem(client, who, item_a["id"])).status_code == 201  # queues a payout

    for method, path, body in [
        ("GET", f"/v1/admin/loyalty/campaigns/{campaign_id}", None),
        ("PATCH", f"/v1/admin/loyalty/campaigns/{campaign_id}", {"active": False}),
        (
            "POST",
            f"/v1/admin/loyalty/campaigns/{campaign_id}/prizes",
            {"name": "x", "probability_ppm": 1, "stock": 1},
        ),
        ("GET", f"/v1/admin/loyalty/campaigns/{campaign_id}/prizes", None),
        ("PATCH", f"/v1/admin/loyalty/catalogue/{item_a['id']}", {"stock": 0}),
        ("POST", f"/v1/admin/loyalty/claims/{claimed['id']}/release", None),
        ("POST", f"/v1/admin/loyalty/claims/{claimed['id']}/reject", None),
    ]:
        response = await client.request(method, path, json=body, headers=b.admin)
        assert response.status_code == 404, (method, path, response.text)
    lists = {
        "/v1/admin/loyalty/campaigns": 1,  # b's own campaign only
        "/v1/admin/loyalty/catalogue": 0,
        "/v1/admin/loyalty/consumers": 0,
        "/v1/admin/loyalty/ledger": 0,
        "/v1/admin/loyalty/reviews?status=credited": 0,
        "/v1/admin/loyalty/payouts": 0,
    }
    for path, total in lists.items():
        page = (await client.get(path, headers=b.admin)).json()
        assert page["total"] == total, path
        page_a = (await client.get(path, headers=a.admin)).json()
        assert page_a["total"] >= 1, path
    # A brand admin naming another brand in the header still acts on its own brand.
    spoofed = await client.get(
        "/v1/admin/loyalty/consumers",
        headers={**b.admin, "X-Scanguard-Brand": str(a.brand.id)},
    )
    assert spoofed.json()["total"] == 0
    # A platform admin picks the brand explicitly.
    platform = await platform_admin(app, client)
    as_a = await client.get(
        "/v1/admin/loyalty/consumers", headers={**platform, "X-Scanguard-Brand": str(a.brand.id)}
    )
    assert as_a.json()["total"] == 1
    no_brand = await client.get("/v1/admin/loyalty/consumers", headers=platform)
    assert (no_brand.status_code, no_brand.json()["code"]) == (400, "brand_required")
    # Granting points to a consumer at brand b does not touch brand a's account.
    await grant(client, b, who, 5)
    me = (await client.get("/v1/loyalty/me", headers=who.headers)).json()
    assert {(x["brand_id"], x["balance"]) for x in me["accounts"]} == {
        (str(a.brand.id), 0),
        (str(b.brand.id), 5),
    }


async def test_viewers_read_but_do_not_write(app: Litestar, client: httpx.AsyncClient) -> None:
    setup = await setup_loyalty(app, client)
    _, viewer = await brand_viewer(app, client, setup.brand)
    assert (await client.get("/v1/admin/loyalty/campaigns", headers=viewer)).status_code == 200
    now = utcnow().isoformat()
    denied = await client.post(
        "/v1/admin/loyalty/campaigns",
        json={"name": "x", "points": 1, "starts_at": now, "ends_at": now},
        headers=viewer,
    )
    assert denied.status_code == 403
    assert (await client.post("/v1/admin/loyalty/expire", headers=viewer)).status_code == 403
    assert (await client.get("/v1/admin/loyalty/campaigns")).status_code == 401


async def test_consumer_lookup_and_daily_statistics(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    setup = await setup_loyalty(app, client, budget_points=100)
    await make_campaign(client, setup.admin, multiplier=2.0, budget_claims=1)
    who = await consumer(app, openid="o-stats")
    for seq in range(2):
        await scan(client, setup.url(seq), "phone-s")
        assert (await claim(client, who, setup.url(seq), "phone-s")).status_code == 201
    item = await make_item(client, setup, cost_points=7)
    assert (await redeem(client, who, item["id"])).status_code == 201

    found = (
        await client.get(
            "/v1/admin/loyalty/consumers", params={"openid": "o-stats"}, headers=setup.admin
        )
    ).json()
    assert found["total"] == 1
    row = found["items"][0]
    assert (row["id"], row["balance"], row["claims"]) == (str(who.id), 30 - 7, 2)

    today = utcnow().date().isoformat()
    stats = (
        await client.get(
            "/v1/admin/loyalty/stats", params={"start": today, "end": today}, headers=setup.admin
        )
    ).json()
    assert stats["days"] == [
        {
            "day": today,
            "claims": 2,
            "held": 0,
            "points_issued": 30,  # 2 × 10 base + one 10-point multiplier bonus
            "redemptions": 1,
            "points_redeemed": 7,
        }
    ]
    budgets = {(c["budget_points_left"], c["budget_claims_left"]) for c in stats["campaigns"]}
    assert budgets == {(80, None), (None, 0)}
    bad = await client.get(
        "/v1/admin/loyalty/stats", params={"start": today, "end": "2000-01-01"}, headers=setup.admin
    )
    assert bad.status_code == 422


async def test_claimers_in_range_for_recalls(app: Litestar, client: httpx.AsyncClient) -> None:
    setup = await setup_loyalty(app, client)
    people = [await consumer(app) for _ in range(3)]
    for seq, who in enumerate(people):
        await scan(client, setup.url(seq), f"phone-{seq}")
        assert (await claim(client, who, setup.url(seq), f"phone-{seq}")).status_code == 201
    roll = setup.roll
    async with app.state.session_factory() as session:
        page, total = await claimers_in_range(
            session,
            brand_id=setup.brand.id,
            kid=roll.kid,
            first_index=roll.first_index + 1,
            last_index=roll.first_index + 10,
            limit=1,
        )
        assert total == 2
        assert [(c.consumer_id, c.openid) for c in page] == [(people[1].id, people[1].openid)]
        other_brand, _ = await claimers_in_range(
            session,
            brand_id=(await setup_loyalty(app, client)).brand.id,
            kid=roll.kid,
            first_index=roll.first_index,
            last_index=roll.first_index + 10,
        )
        assert other_brand == []
