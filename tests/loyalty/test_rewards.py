"""Prize draws, redemptions and adjustments over HTTP on both backends."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from typing import Any

import httpx
from litestar import Litestar

from kernel.settings import Settings
from loyalty.rewards import compute_roll, pick_tier
from tests.conftest import running_app
from tests.factories.loyalty import (
    Consumer,
    LoyaltyBrand,
    account_of,
    claim,
    consumer,
    ledger_sum,
    make_campaign,
    scan,
    setup_loyalty,
)


async def grant(
    client: httpx.AsyncClient, setup: LoyaltyBrand, who: Consumer, points: int
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/admin/loyalty/consumers/{who.id}/adjustments",
        json={"points": points, "note": "test grant", "client_key": secrets.token_hex(8)},
        headers=setup.admin,
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def make_item(
    client: httpx.AsyncClient, setup: LoyaltyBrand, **fields: Any
) -> dict[str, Any]:
    body = {"name": "Mug", "cost_points": 10, "stock": 5, **fields}
    response = await client.post("/v1/admin/loyalty/catalogue", json=body, headers=setup.admin)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def redeem(
    client: httpx.AsyncClient, who: Consumer, item_id: str, key: str | None = None
) -> httpx.Response:
    return await client.post(
        "/v1/loyalty/redemptions",
        json={"item_id": item_id, "client_key": key or secrets.token_hex(8)},
        headers=who.headers,
    )


async def test_a_prize_with_stock_one_is_won_once_and_draws_are_auditable(
    settings: Settings,
) -> None:
    # All test requests come from one address: lift the per-IP burst hold for this one.
    async with running_app(settings.with_overrides(loyalty={"fraud_ip_max_claims": 1000})) as (
        app,
        client,
    ):
        await _prize_stock_one(app, client)


async def _prize_stock_one(app: Litestar, client: httpx.AsyncClient) -> None:
    setup = await setup_loyalty(app, client, points=None, count=40)
    campaign = await make_campaign(client, setup.admin, points=5)
    prize = await client.post(
        f"/v1/admin/loyalty/campaigns/{campaign['id']}/prizes",
        json={"name": "Bike", "probability_ppm": 1_000_000, "stock": 1},
        headers=setup.admin,
    )
    assert prize.status_code == 201, prize.text
    devices = [f"phone-{i}" for i in range(40)]
    for seq, device in enumerate(devices):
        await scan(client, setup.url(seq), device)
    people = [await consumer(app) for _ in devices]
    responses = await asyncio.gather(
        *(claim(client, p, setup.url(i), devices[i]) for i, p in enumerate(people))
    )
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses][:2]
    outcomes = [r.json()["draw"]["outcome"] for r in responses]
    assert outcomes.count("won") == 1
    assert outcomes.count("out_of_stock") == 39
    tiers = (
        await client.get(
            f"/v1/admin/loyalty/campaigns/{campaign['id']}/prizes", headers=setup.admin
        )
    ).json()
    assert (tiers[0]["stock"], tiers[0]["awarded"]) == (1, 1)
    winner = next(p for p, o in zip(people, outcomes, strict=True) if o == "won")
    prizes = (await client.get("/v1/loyalty/me/prizes", headers=winner.headers)).json()
    assert [p["prize_name"] for p in prizes["items"]] == ["Bike"]

    for response in responses[:5]:
        draw_id = response.json()["draw"]["id"]
        audit = (await client.get(f"/v1/admin/loyalty/draws/{draw_id}", headers=setup.admin)).json()
        assert audit["consistent"] is True
        # An auditor recomputes the roll from the stored seed and the claim id.
        assert compute_roll(audit["seed"], uuid.UUID(audit["claim_id"])) == audit["roll"]
        tier_list = [(uuid.UUID(t["prize_id"]), t["probability_ppm"]) for t in audit["tiers"]]
        assert pick_tier(tier_list, audit["roll"]) == uuid.UUID(prize.json()["id"])


async def test_draw_probabilities_are_validated(app: Litestar, client: httpx.AsyncClient) -> None:
    setup = await setup_loyalty(app, client, points=None)
    campaign = await make_campaign(client, setup.admin, points=5)
    path = f"/v1/admin/loyalty/campaigns/{campaign['id']}/prizes"
    ok = await client.post(
        path, json={"name": "A", "probability_ppm": 600_000, "stock": 3}, headers=setup.admin
    )
    assert ok.status_code == 201
    too_much = await client.post(
        path, json={"name": "B", "probability_ppm": 500_000, "stock": 3}, headers=setup.admin
    )
    assert (too_much.status_code, too_much.json()["field"]) == (422, "probability_ppm")
    cash = await client.post(
        path,
        json={"name": "C", "probability_ppm": 1, "stock": 3, "kind": "red_envelope"},
        headers=setup.admin,
    )
    assert (cash.status_code, cash.json()["field"]) == (422, "amount_cents")


def test_pick_tier_is_cumulative() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    tiers = [(a, 100), (b, 300)]
    assert [pick_tier(tiers, r) for r in (0, 99, 100, 399, 400, 999_999)] == [
        a,
        a,
        b,
        b,
        None,
        None,
    ]


async def test_two_hundred_simultaneous_redemptions_of_stock_fifty(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    setup = await setup_loyalty(app, client, points=None)
    item = await make_item(client, setup, cost_points=10, stock=50)
    people = [await consumer(app) for _ in range(20)]
    for person in people:
        await grant(client, setup, person, 100)  # 10 redemptions' worth each
    responses = await asyncio.gather(
        *(redeem(client, people[i % 20], item["id"]) for i in range(200))
    )
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 50, {r.text for r in responses if r.status_code != 201}
    assert {r.json()["code"] for r in responses if r.status_code != 201} == {"out_of_stock"}
    catalogue = (await client.get(f"/v1/loyalty/brands/{setup.brand.id}/catalogue")).json()["items"]
    assert (catalogue[0]["stock"], catalogue[0]["redeemed"]) == (50, 50)
    spent = 0
    for person in people:
        account = await account_of(app, person.id, setup.brand.id)
        assert account is not None
        assert account.balance >= 0
        assert account.balance == await ledger_sum(app, person.id, setup.brand.id)
        spent += 100 - account.balance
    assert spent == 500


async def test_redeem_is_idempotent_and_never_goes_negative(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    setup = await setup_loyalty(app, client, points=None)
    item = await make_item(client, setup, cost_points=30, stock=10)
    other = await make_item(client, setup, name="Cap", cost_points=1, stock=10)
    who = await consumer(app)
    await grant(client, setup, who, 50)
    key = "order-0001-abc"
    first = await redeem(client, who, item["id"], key)
    assert first.status_code == 201, first.text
    replays = await asyncio.gather(*(redeem(client, who, item["id"], key) for _ in range(5)))
    assert {r.status_code for r in replays} == {200}
    assert {r.json()["id"] for r in replays} == {first.json()["id"]}
    reused = await redeem(client, who, other["id"], key)
    assert (reused.status_code, reused.json()["code"]) == (409, "client_key_reused")
    poor = await redeem(client, who, item["id"])
    assert (poor.status_code, poor.json()["code"]) == (409, "insufficient_points")
    account = await account_of(app, who.id, setup.brand.id)
    assert account is not None
    assert account.balance == 20 == await ledger_sum(app, who.id, setup.brand.id)
    mine = (await client.get("/v1/loyalty/me/redemptions", headers=who.headers)).json()
    assert mine["total"] == 1
    # Concurrent redemptions by one consumer can never overdraw: 20 points, 20 × 1-point
    # items race with 10 × 30... only what the balance allows succeeds.
    racing = await asyncio.gather(*(redeem(client, who, other["id"]) for _ in range(30)))
    assert [r.status_code for r in racing].count(201) == 10  # stock 10
    account = await account_of(app, who.id, setup.brand.id)
    assert account is not None
    assert account.balance == 10 == await ledger_sum(app, who.id, setup.brand.id)


async def test_adjustments_are_idempotent_and_withdrawn_items_are_refused(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    setup = await setup_loyalty(app, client, points=None)
    who = await consumer(app)
    body = {"points": 25, "note": "goodwill", "client_key": "ticket-4711"}
    path = f"/v1/admin/loyalty/consumers/{who.id}/adjustments"
    one = await client.post(path, json=body, headers=setup.admin)
    two = await client.post(path, json=body, headers=setup.admin)
    assert one.json()["id"] == two.json()["id"]
    debit = await client.post(
        path, json={"points": -30, "note": "x", "client_key": "ticket-4712"}, headers=setup.admin
    )
    assert (debit.status_code, debit.json()["code"]) == (409, "insufficient_points")
    item = await make_item(client, setup, cost_points=5)
    withdrawn = await client.patch(
        f"/v1/admin/loyalty/catalogue/{item['id']}", json={"active": False}, headers=setup.admin
    )
    assert withdrawn.json()["active"] is False
    refused = await redeem(client, who, item["id"])
    assert (refused.status_code, refused.json()["code"]) == (409, "item_inactive")
    ledger = (await client.get("/v1/loyalty/me/ledger", headers=who.headers)).json()
    assert [(e["delta"], e["reason"]) for e in ledger["items"]] == [(25, "adjustment")]
