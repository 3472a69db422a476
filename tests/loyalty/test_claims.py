"""Claims over HTTP on both backends: who may claim, exactly once, PINs and their limits."""

from __future__ import annotations

import asyncio

import httpx
from litestar import Litestar
from sqlalchemy import func, select

from anticounterfeit.codes.format import Keyring, derive_pin
from kernel.settings import Settings
from loyalty.models import Claim, LedgerEntry
from tests.conftest import running_app
from tests.factories.loyalty import (
    account_of,
    claim,
    consumer,
    ledger_sum,
    make_campaign,
    scan,
    setup_loyalty,
)


async def test_first_scanner_claims_points_exactly_once(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    setup = await setup_loyalty(app, client)
    url = setup.url(0)
    assert (await scan(client, url, "phone-a"))["verdict"] == "genuine"
    alice = await consumer(app)
    response = await claim(client, alice, url, "phone-a")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["status"], body["points"], body["hold_reasons"]) == ("credited", 10, [])

    me = (await client.get("/v1/loyalty/me", headers=alice.headers)).json()
    assert me["accounts"] == [{"brand_id": str(setup.brand.id), "balance": 10, "pending": 0}]
    again = await claim(client, alice, url, "phone-a")
    assert (again.status_code, again.json()["code"]) == (409, "already_claimed")
    bob = await consumer(app)  # same phone, another WeChat user: still only one claim
    other = await claim(client, bob, url, "phone-a")
    assert (other.status_code, other.json()["code"]) == (409, "already_claimed")
    ledger = (await client.get("/v1/loyalty/me/ledger", headers=alice.headers)).json()
    assert [(e["delta"], e["reason"], e["ref_type"]) for e in ledger["items"]] == [
        (10, "claim", "code")
    ]


async def test_only_the_first_scanners_device_may_claim(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    setup = await setup_loyalty(app, client)
    url = setup.url(1)
    await scan(client, url, "phone-a")
    assert (await scan(client, url, "phone-a"))["verdict"] == "already_scanned"
    assert (await scan(client, url, "phone-b"))["verdict"] == "already_scanned"
    clerk = await consumer(app)
    refused = await claim(client, clerk, url, "phone-b")
    assert refused.status_code == 403
    assert refused.json()["code"] == "not_first_scanner"
    owner = await consumer(app)  # already_scanned, unclaimed, first scanner's device: ok
    accepted = await claim(client, owner, url, "phone-a")
    assert accepted.status_code == 201, accepted.text


async def test_claims_need_a_scanned_genuine_active_code(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    setup = await setup_loyalty(app, client)
    who = await consumer(app)
    never = await claim(client, who, setup.url(2), "phone-a")
    assert (never.status_code, never.json()["code"]) == (409, "not_scanned")
    forged = setup.url(3)[:-4] + ("2222" if not setup.url(3).endswith("2222") else "3333")
    fake = await claim(client, who, forged, "phone-a")
    assert (fake.status_code, fake.json()["code"]) == (422, "not_genuine")
    malformed = await claim(client, who, "https://id.example.test/01/123/21/X", "phone-a")
    assert malformed.status_code in (400, 422)
    anonymous = await client.post(
        "/v1/loyalty/claims", json={"url": setup.url(2), "device_id": "phone-a"}
    )
    assert anonymous.status_code == 401
    no_device = await client.post(
        "/v1/loyalty/claims", json={"url": setup.url(2)}, headers=who.headers
    )
    assert (no_device.status_code, no_device.json()["code"]) == (422, "device_required")


async def test_without_a_campaign_the_code_stays_claimable(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    setup = await setup_loyalty(app, client, points=None)
    url = setup.url(4)
    await scan(client, url, "phone-a")
    who = await consumer(app)
    none = await claim(client, who, url, "phone-a")
    assert (none.status_code, none.json()["code"]) == (409, "no_campaign")
    await make_campaign(client, setup.admin, points=7)
    later = await claim(client, who, url, "phone-a")
    assert later.status_code == 201, later.text
    assert later.json()["points"] == 7


async def test_hundred_simultaneous_claims_of_one_code_award_once(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    setup = await setup_loyalty(app, client)
    url = setup.url(5)
    await scan(client, url, "shared-phone")
    people = [await consumer(app) for _ in range(100)]
    responses = await asyncio.gather(*(claim(client, p, url, "shared-phone") for p in people))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1, [r.text for r in responses if r.status_code != 409][:3]
    assert statuses.count(409) == 99
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"already_claimed"}
    winner = next(p for p, r in zip(people, responses, strict=True) if r.status_code == 201)
    async with app.state.session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(Claim)) == 1
        assert await session.scalar(select(func.count()).select_from(LedgerEntry)) == 1
    account = await account_of(app, winner.id, setup.brand.id)
    assert account is not None
    assert account.balance == 10 == await ledger_sum(app, winner.id, setup.brand.id)


def _pin(app: Litestar, setup_roll_kid: int, index: int, length: int) -> str:
    keyring: Keyring = app.state.keyring
    key = keyring.get(setup_roll_kid)
    assert key is not None
    return derive_pin(key, index, length)


async def test_pin_products_need_the_right_pin_and_limit_wrong_ones(settings: Settings) -> None:
    limited = settings.with_overrides(
        loyalty={"pin_failures_per_consumer": 3, "pin_failures_per_code": 5}
    )
    async with running_app(limited) as (app, client):
        setup = await setup_loyalty(app, client, pin_length=6)
        url = setup.url(0)
        await scan(client, url, "phone-a")
        right = _pin(app, setup.roll.kid, setup.roll.first_index, 6)
        wrong = "000000" if right != "000000" else "111111"
        who = await consumer(app)
        missing = await claim(client, who, url, "phone-a")
        assert (missing.status_code, missing.json()["code"]) == (422, "pin_required")
        for _ in range(3):
            bad = await claim(client, who, url, "phone-a", pin=wrong)
            assert (bad.status_code, bad.json()["code"]) == (422, "wrong_pin")
        blocked = await claim(client, who, url, "phone-a", pin=right)
        assert blocked.status_code == 429
        assert blocked.json()["code"] == "pin_attempts_exceeded"
        assert int(blocked.headers["Retry-After"]) > 0

        # Per code: other consumers guessing the same code are stopped after 5 in total.
        for _ in range(2):
            other = await consumer(app)
            bad = await claim(client, other, url, "phone-a", pin=wrong)
            assert bad.status_code == 422
        late = await consumer(app)
        assert (await claim(client, late, url, "phone-a", pin=right)).status_code == 429

        # Redis down: the stored failures still decide.
        app.state.runtime.redis_health.record_failure(ConnectionError("test: redis down"))
        assert (await claim(client, who, url, "phone-a", pin=right)).status_code == 429

        # Another code of the same product, a fresh consumer: the right PIN claims it.
        url2 = setup.url(1)
        await scan(client, url2, "phone-b")
        fresh = await consumer(app)
        pin2 = _pin(app, setup.roll.kid, setup.roll.first_index + 1, 6)
        ok = await claim(client, fresh, url2, "phone-b", pin=pin2)
        assert ok.status_code == 201, ok.text


async def test_one_award_across_two_app_instances(settings: Settings) -> None:
    """Two workers (two app instances on the same database and Redis) race for one code."""
    async with running_app(settings) as (app, client), running_app(settings) as (_, other):
        setup = await setup_loyalty(app, client)
        url = setup.url(7)
        await scan(client, url, "shared-phone")
        people = [await consumer(app) for _ in range(40)]
        responses = await asyncio.gather(
            *(
                claim(client if i % 2 else other, p, url, "shared-phone")
                for i, p in enumerate(people)
            )
        )
        assert sorted(r.status_code for r in responses) == [201] + [409] * 39
        async with app.state.session_factory() as session:
            assert await session.scalar(select(func.count()).select_from(Claim)) == 1
