"""Two server instances (separate uvicorn processes, two workers each) on one Redis and one
PostgreSQL behave as one service: a race across them gives one genuine scan and one claim
award, a change made through one reaches the caches of every worker of the other, and an alert
opened by a scan on one reaches the alert stream of both (issue 16 §4).

The data is made through the in-process app on the same settings (same database schema and
Redis prefix), then every request of the test goes to the two live instances."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select

from gateway.geoip_fixture import write_city_database
from gateway.models import Scan
from kernel.settings import Settings
from loyalty.models import Claim
from tests.factories.diversion import PLACES, located_app, shipped_goods
from tests.factories.loyalty import consumer, make_campaign
from tests.support.live_server import live_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

ALERTS = "/v1/admin/diversion/alerts"
BEIJING_IP = PLACES["Beijing"].host()  # the goods go to a CN-GD distributor: diverted
WORKERS = 2


@asynccontextmanager
async def _two_instances(
    settings: Settings, city_db: Path, logs: Path
) -> AsyncIterator[list[httpx.AsyncClient]]:
    env = {
        "SCANGUARD_GEOIP_DATABASE": str(city_db),
        "SCANGUARD_TRUSTED_PROXIES": "127.0.0.1/32",
        # Only an invalidation message can make a worker see a change within the test.
        "SCANGUARD_METADATA_CACHE_TTL_S": "3600",
        "SCANGUARD_DIVERSION_FLUSH_INTERVAL_S": "0.2",
    }
    async with AsyncExitStack() as stack:
        clients = []
        for name in ("a", "b"):
            base = await stack.enter_async_context(
                live_server(settings, logs / f"instance-{name}.log", workers=WORKERS, **env)
            )
            client = httpx.AsyncClient(base_url=base, timeout=20)
            clients.append(await stack.enter_async_context(client))
        yield clients


def _scan_body(gtin: str, code: str, device: str) -> dict[str, str]:
    return {"url": f"https://id.example.test/01/{gtin}/21/{code}", "device_id": device}


async def _verdict(client: httpx.AsyncClient, gtin: str, code: str, device: str) -> str:
    response = await client.post("/v1/scans", json=_scan_body(gtin, code, device))
    assert response.status_code == 200, response.text
    verdict: str = response.json()["verdict"]
    return verdict


async def _next_event(lines: AsyncIterator[str]) -> dict[str, str]:
    event: dict[str, str] = {}
    while True:
        line = await asyncio.wait_for(anext(lines), timeout=10)
        if not line:
            if event:
                return event
            continue
        if not line.startswith(":"):
            key, _, value = line.partition(":")
            event[key] = value.removeprefix(" ")


@pytest.mark.parametrize("backend", ["services"], indirect=True)
async def test_two_instances_answer_as_one_service(
    backend: str, settings: Settings, tmp_path: Path
) -> None:
    city_db = write_city_database(tmp_path / "city.mmdb")
    async with located_app(settings, city_db) as (app, client):
        goods = await shipped_goods(app, client, regions=("CN-GD",), count=40)
        await make_campaign(client, goods.admin, points=10)
        claimers = [await consumer(app) for _ in range(30)]
        gtin = goods.product.gtin
        async with _two_instances(settings, city_db, tmp_path) as instances:
            await _race_gives_one_genuine_and_one_award(app, instances, gtin, goods.codes, claimers)
            await _a_void_reaches_every_worker(instances, goods, gtin)
            await _alerts_reach_both_streams(instances, goods, gtin)


async def _race_gives_one_genuine_and_one_award(
    app: Litestar,
    instances: list[httpx.AsyncClient],
    gtin: str,
    codes: list[str],
    claimers: list[Any],
) -> None:
    spread = itertools.cycle(instances)
    answers = await asyncio.gather(
        *(_verdict(next(spread), gtin, codes[0], f"racer-{i}") for i in range(50))
    )
    assert answers.count("genuine") == 1, answers
    # The winner's phone claims; thirty consumers race for the award across both instances.
    [winner_device] = [f"racer-{i}" for i, v in enumerate(answers) if v == "genuine"]
    body = _scan_body(gtin, codes[0], winner_device)
    claims = await asyncio.gather(
        *(
            next(spread).post("/v1/loyalty/claims", json=body, headers=who.headers)
            for who in claimers
        )
    )
    statuses = sorted(r.status_code for r in claims)
    assert statuses.count(201) == 1, [r.text for r in claims if r.status_code != 409][:3]
    assert statuses.count(409) == len(claimers) - 1
    async with app.state.session_factory() as session:
        genuine = select(func.count()).select_from(Scan).where(Scan.verdict == "genuine")
        assert await session.scalar(genuine) == 1
        assert await session.scalar(select(func.count()).select_from(Claim)) == 1


async def _a_void_reaches_every_worker(
    instances: list[httpx.AsyncClient], goods: Any, gtin: str
) -> None:
    a, b = instances
    # Every worker of both instances caches the roll's metadata (a request lands on either
    # worker of an instance; forty of them reach both with near certainty).
    for n in range(40):
        await _verdict(instances[n % 2], gtin, goods.codes[1 + n % 4], f"warm-{n}")
    voided = await a.post(
        f"/v1/admin/rolls/{goods.roll.id}/void",
        json={"seq_from": 20, "seq_to": 30, "reason": "labels damaged"},
        headers=goods.admin,
    )
    assert voided.status_code == 200, voided.text

    async def everywhere_void() -> bool:
        verdicts = [await _verdict(b, gtin, goods.codes[20 + n], f"after-{n}") for n in range(10)]
        return set(verdicts) == {"void"}

    await wait_until(everywhere_void, 5, interval_s=0.1, what="the void to reach instance b")
    # and instance a's own second worker
    assert {await _verdict(a, gtin, goods.codes[20 + n], f"a-{n}") for n in range(10)} == {"void"}


async def _alerts_reach_both_streams(
    instances: list[httpx.AsyncClient], goods: Any, gtin: str
) -> None:
    async with AsyncExitStack() as stack:
        streams = []
        for client in instances:
            stream = await stack.enter_async_context(
                client.stream("GET", f"{ALERTS}/stream", headers=goods.admin)
            )
            assert stream.status_code == 200
            lines = stream.aiter_lines()
            assert (await _next_event(lines))["event"] == "ready"
            streams.append(lines)
        # Diverted scans (Beijing, goods shipped to a CN-GD distributor) on instance a only.
        for code in goods.codes[31:34]:
            response = await instances[0].post(
                "/v1/scans",
                json=_scan_body(gtin, code, "beijing-phone"),
                headers={"X-Forwarded-For": f"{BEIJING_IP}, 127.0.0.1"},
            )
            assert response.status_code == 200, response.text
        events = [await _next_event(lines) for lines in streams]
    assert [e["event"] for e in events] == ["diversion.alert.opened"] * 2
    assert events[0]["id"] == events[1]["id"]
    assert json.loads(events[1]["data"])["brand_id"] == str(goods.brand.id)
