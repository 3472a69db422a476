"""Fraud holds and the review queue over HTTP on both backends."""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Litestar
from sqlalchemy import select

from kernel.outbox import OutboxEvent
from kernel.settings import Settings
from tests.conftest import running_app
from tests.factories.codes import codes_of, make_roll, scan_path
from tests.factories.loyalty import (
    RESOLVER,
    LoyaltyBrand,
    claim,
    consumer,
    scan,
    setup_loyalty,
)
from tests.factories.tenancy import make_product

SHANGHAI = {"lat": 31.2304, "lon": 121.4737, "accuracy_m": 10}


async def _me(client: httpx.AsyncClient, who: Any) -> dict[str, Any]:
    accounts: list[dict[str, Any]] = (
        await client.get("/v1/loyalty/me", headers=who.headers)
    ).json()["accounts"]
    return accounts[0]


async def _campaign(client: httpx.AsyncClient, setup: LoyaltyBrand) -> dict[str, Any]:
    items: list[dict[str, Any]] = (
        await client.get("/v1/admin/loyalty/campaigns", headers=setup.admin)
    ).json()["items"]
    return items[0]


async def test_case_harvest_is_held_then_released(settings: Settings) -> None:
    async with running_app(settings.with_overrides(loyalty={"fraud_group_max_claims": 2})) as (
        app,
        client,
    ):
        setup = await setup_loyalty(app, client)
        who = await consumer(app)
        results = []
        for seq in range(3):  # three codes of one batch/roll, one consumer, minutes apart
            await scan(client, setup.url(seq), "phone-a")
            response = await claim(client, who, setup.url(seq), "phone-a")
            assert response.status_code == 201, response.text
            results.append(response.json())
        assert [r["status"] for r in results] == ["credited", "credited", "held"]
        assert results[2]["hold_reasons"] == ["case_harvest"]
        assert await _me(client, who) == {
            "brand_id": str(setup.brand.id),
            "balance": 20,
            "pending": 10,
        }
        async with app.state.session_factory() as session:
            events = (
                (
                    await session.execute(
                        select(OutboxEvent).where(OutboxEvent.event_type == "points.held")
                    )
                )
                .scalars()
                .all()
            )
        assert [(e.subject_id, e.payload["reasons"]) for e in events] == [
            (results[2]["id"], ["case_harvest"])
        ]
        queue = (await client.get("/v1/admin/loyalty/reviews", headers=setup.admin)).json()
        assert [c["id"] for c in queue["items"]] == [results[2]["id"]]
        path = f"/v1/admin/loyalty/claims/{results[2]['id']}"
        unknown = await client.post(f"{path}/approve", headers=setup.admin)
        assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_action")
        released = await client.post(f"{path}/release", headers=setup.admin)
        assert released.status_code == 200, released.text
        assert released.json()["status"] == "credited"
        again = await client.post(f"{path}/release", headers=setup.admin)
        assert (again.status_code, again.json()["code"]) == (409, "not_held")
        rejected = await client.post(f"{path}/reject", headers=setup.admin)
        assert rejected.status_code == 409
        assert await _me(client, who) == {
            "brand_id": str(setup.brand.id),
            "balance": 30,
            "pending": 0,
        }
        ledger = (await client.get("/v1/loyalty/me/ledger", headers=who.headers)).json()
        reasons = [(e["bucket"], e["reason"], e["delta"]) for e in reversed(ledger["items"])]
        assert reasons == [
            ("available", "claim", 10),
            ("available", "claim", 10),
            ("pending", "hold", 10),
            ("pending", "release", -10),
            ("available", "claim", 10),
        ]


async def test_ip_burst_is_held_and_rejection_returns_the_budget(settings: Settings) -> None:
    async with running_app(settings.with_overrides(loyalty={"fraud_ip_max_claims": 2})) as (
        app,
        client,
    ):
        setup = await setup_loyalty(app, client, budget_claims=10)
        held = None
        for seq in range(3):  # three consumers, three phones, one address
            await scan(client, setup.url(seq), f"phone-{seq}")
            who = await consumer(app)
            response = await claim(client, who, setup.url(seq), f"phone-{seq}")
            held = (who, response.json())
        assert held is not None
        who, body = held
        assert (body["status"], body["hold_reasons"]) == ("held", ["ip_burst"])
        assert (await _campaign(client, setup))["spent_claims"] == 3
        rejected = await client.post(
            f"/v1/admin/loyalty/claims/{body['id']}/reject",
            json={"note": "scripted"},
            headers=setup.admin,
        )
        assert rejected.json()["status"] == "rejected"
        assert (await _campaign(client, setup))["spent_claims"] == 2
        assert await _me(client, who) == {
            "brand_id": str(setup.brand.id),
            "balance": 0,
            "pending": 0,
        }
        # The code stays claimed: a rejected claim is no second chance.
        again = await claim(client, await consumer(app), setup.url(2), "phone-2")
        assert again.json()["code"] == "already_claimed"


async def test_device_burst_and_suspicious_codes_are_held(settings: Settings) -> None:
    tuned = settings.with_overrides(
        loyalty={"fraud_device_max_claims": 1}, gateway={"suspicious_distinct_devices": 1}
    )
    async with running_app(tuned) as (app, client):
        setup = await setup_loyalty(app, client)
        await scan(client, setup.url(0), "farm-phone")
        await scan(client, setup.url(1), "farm-phone")
        first = await claim(client, await consumer(app), setup.url(0), "farm-phone")
        second = await claim(client, await consumer(app), setup.url(1), "farm-phone")
        assert first.json()["status"] == "credited"
        assert second.json()["hold_reasons"] == ["device_burst"]

        await scan(client, setup.url(2), "owner-phone")
        copied = await scan(client, setup.url(2), "copy-phone")
        assert copied["verdict"] == "suspicious"
        body = (await claim(client, await consumer(app), setup.url(2), "owner-phone")).json()
        assert (body["status"], body["hold_reasons"]) == ("held", ["suspicious_code"])


async def test_claims_at_a_distributors_premises_are_held(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    setup = await setup_loyalty(app, client)
    premises = await client.post(
        "/v1/admin/loyalty/premises",
        json={"name": "Depot Pudong", "radius_m": 300, "lat": 31.2310, "lon": 121.4740},
        headers=setup.admin,
    )
    assert premises.status_code == 201, premises.text
    await scan(client, setup.url(0), "clerk-phone", location=SHANGHAI)
    at_depot = await claim(client, await consumer(app), setup.url(0), "clerk-phone")
    assert at_depot.json()["hold_reasons"] == ["at_distributor_premises"]
    far = {"lat": 31.30, "lon": 121.60, "accuracy_m": 10}
    await scan(client, setup.url(1), "home-phone", location=far)
    at_home = await claim(client, await consumer(app), setup.url(1), "home-phone")
    assert at_home.json()["status"] == "credited"


async def test_claims_from_one_case_are_grouped_by_the_case(settings: Settings) -> None:
    """Codes packed into one case (channel control's aggregation) form one group, across
    batches: the third claim from the case within the window is held."""
    async with running_app(settings.with_overrides(loyalty={"fraud_group_max_claims": 2})) as (
        app,
        client,
    ):
        setup = await setup_loyalty(app, client)
        second_roll = await make_roll(app, setup.brand, setup.product, count=5)
        other = codes_of(app, second_roll, setup.product.gtin, range(5))
        in_case = [setup.url(0), setup.url(1), RESOLVER + scan_path(setup.product.gtin, other[0])]
        case_product = await make_product(app, setup.brand)
        case_roll = await make_roll(app, setup.brand, case_product, count=1)
        (case_code,) = codes_of(app, case_roll, case_product.gtin, [0])
        case_ref = {"code": scan_path(case_product.gtin, case_code)}
        packed = await client.post(
            "/v1/admin/aggregation/pack",
            json={"container": case_ref, "kind": "case", "codes": in_case},
            headers=setup.admin,
        )
        assert packed.status_code == 200, packed.text
        assert not packed.json().get("failures"), packed.text
        who = await consumer(app)
        statuses = []
        for n, url in enumerate([setup.url(5), *in_case]):  # a loose code first
            await scan(client, url, f"phone-{n}")
            response = await claim(client, who, url, f"phone-{n}")
            statuses.append((response.json()["status"], response.json()["hold_reasons"]))
        # Codes 0 and 1 share the roll with the loose code 5, but they are grouped by case.
        assert statuses == [
            ("credited", []),
            ("credited", []),
            ("credited", []),
            ("held", ["case_harvest"]),
        ]
