"""Redis is a cache, never a second truth: the scan limits hold while it is down, /health
sees it come back by itself, and its keys never speak for another database (issue 12 §3)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from sqlalchemy import delete, text

from anticounterfeit.codes.identity import code_id_of
from gateway.models import CodeFirstScan, Scan
from kernel.db import create_engine
from kernel.migrate import upgrade_async
from kernel.settings import Settings
from tests.api.test_scan import post_scan, scan_json, scannable
from tests.conftest import WORKER, running_app
from tests.factories.codes import codes_of, scan_path
from tests.support.redis_server import RedisServer, closed_port_redis_url
from tests.support.waiting import wait_until


async def health(client: httpx.AsyncClient) -> dict[str, object]:
    response = await client.get("/health")
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


async def away_from_a_window_edge() -> None:
    """The limits count per clock minute: start a counting test well inside one."""
    await wait_until(lambda: time.time() % 60 < 45, timeout_s=20, interval_s=0.2)


def own_redis(settings: Settings, server: RedisServer) -> Settings:
    return settings.with_overrides(
        redis={"url": server.url, "prefix": "t:", "timeout_s": 0.2, "retry_after_s": 0.2}
    )


@asynccontextmanager
async def recreated_database(settings: Settings, tmp_path: Path) -> AsyncIterator[Settings]:
    """A database made again from nothing by the migrations, beside the same Redis."""
    if settings.database.is_sqlite:
        fresh = settings.with_overrides(
            database={"url": f"sqlite+aiosqlite:///{tmp_path / 'recreated.db'}"}
        )
        await upgrade_async(fresh)
        yield fresh
        return
    schema = f"sgtest_{WORKER}_{uuid.uuid4().hex[:10]}"
    engine = create_engine(settings, nullpool=True)
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        fresh = settings.with_overrides(database={"search_path": schema})
        await upgrade_async(fresh)
        yield fresh
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()


async def test_scan_limits_hold_while_redis_is_down(settings: Settings) -> None:
    # Two server processes share the limit of 6 per address: this one allows 3.
    down = settings.with_overrides(
        redis={"url": closed_port_redis_url(), "timeout_s": 0.2},
        gateway={
            "rate_limit_ip_per_minute": 6,
            "rate_limit_device_per_minute": 2,
            "server_workers": 2,
        },
    )
    async with running_app(down) as (app, client):
        _, product, _, roll = await scannable(app)
        codes = codes_of(app, roll, product.gtin, range(5))
        await away_from_a_window_edge()
        answers = [
            await scan_json(client, scan_path(product.gtin, code), f"device-{i}")
            for i, code in enumerate(codes[:4])
        ]
        assert [a.status_code for a in answers] == [200, 200, 200, 429], answers[-1].text
        assert {a.json()["verdict"] for a in answers[:3]} == {"genuine"}
        assert answers[3].json()["code"] == "rate_limited"
        assert 1 <= int(answers[3].headers["retry-after"]) <= 60
        body = await health(client)
        assert body["status"] == "degraded"
        assert body["rate_limits"] == "in_process"


async def test_device_limit_holds_on_the_mini_program_path_while_redis_is_down(
    settings: Settings,
) -> None:
    down = settings.with_overrides(
        redis={"url": closed_port_redis_url(), "timeout_s": 0.2},
        gateway={"rate_limit_device_per_minute": 2},
    )
    async with running_app(down, client_ip="203.0.113.9") as (app, client):
        _, product, _, roll = await scannable(app)
        [code] = codes_of(app, roll, product.gtin, [0])
        url = f"https://id.example.test{scan_path(product.gtin, code)}"
        await away_from_a_window_edge()
        answers = [await post_scan(client, url, "one-phone-device") for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429], answers[-1].text
        assert [a.json()["verdict"] for a in answers[:2]] == ["genuine", "already_scanned"]
        assert "retry-after" in answers[2].headers


async def test_health_sees_redis_come_back_without_a_scan(settings: Settings) -> None:
    with RedisServer() as server:
        async with running_app(own_redis(settings, server)) as (app, client):
            _, product, _, roll = await scannable(app)
            [code] = codes_of(app, roll, product.gtin, [0])
            assert (await scan_json(client, scan_path(product.gtin, code))).status_code == 200
            body = await health(client)
            assert (body["status"], body["rate_limits"]) == ("ok", "redis")

            server.stop()
            again = await scan_json(client, scan_path(product.gtin, code))
            assert again.json()["verdict"] == "already_scanned"  # from the database
            body = await health(client)
            assert (body["status"], body["rate_limits"]) == ("degraded", "in_process")

            server.start()  # an empty Redis on the same port, as after a restart
            await wait_until(
                lambda: _health_is(client, "ok"), timeout_s=10, what="/health ok again"
            )
            body = await health(client)
            assert body["rate_limits"] == "redis"
            redis = body["redis"]
            assert isinstance(redis, dict)
            assert (redis["state"], redis["last_error"]) == ("up", None)


async def _health_is(client: httpx.AsyncClient, status: str) -> bool:
    return (await health(client))["status"] == status


async def test_recreated_database_beside_a_warm_redis_answers_genuine(
    settings: Settings, tmp_path: Path
) -> None:
    with RedisServer() as server:
        warm = own_redis(settings, server)
        async with running_app(warm) as (app, client):
            _, product, _, roll = await scannable(app)
            codes = codes_of(app, roll, product.gtin, range(20))
            for code in codes * 2:  # every code scanned twice: Redis knows them all
                await scan_json(client, scan_path(product.gtin, code))
        async with (
            recreated_database(warm, tmp_path) as fresh,
            running_app(fresh) as (app, client),
        ):
            _, product, _, again = await scannable(app)
            # The new database numbers its codes as the old one did (the keys collide
            # unless they carry the database's identity).
            assert (again.kid, again.first_index) == (roll.kid, roll.first_index)
            codes = codes_of(app, again, product.gtin, range(20))
            verdicts = [
                (await scan_json(client, scan_path(product.gtin, code))).json()["verdict"]
                for code in codes
            ]
            assert verdicts == ["genuine"] * 20


async def test_restored_backup_rechecks_what_redis_remembers(settings: Settings) -> None:
    with RedisServer() as server:
        warm = own_redis(settings, server)
        async with running_app(warm) as (app, client):
            _, product, _, roll = await scannable(app)
            codes = codes_of(app, roll, product.gtin, range(20))
            for code in codes:
                first = await scan_json(client, scan_path(product.gtin, code))
                assert first.json()["verdict"] == "genuine"
            # A backup taken after the first 10 scans is restored: the database keeps its
            # install id but has lost the later 10 scans, which Redis still remembers.
            lost = [code_id_of(roll.kid, roll.first_index + seq) for seq in range(10, 20)]
            async with app.state.session_factory() as session:
                await session.execute(delete(Scan).where(Scan.code_id.in_(lost)))
                await session.execute(delete(CodeFirstScan).where(CodeFirstScan.code_id.in_(lost)))
                await session.commit()
        async with running_app(warm) as (app, client):  # servers restart after a restore
            kept = [
                (await scan_json(client, scan_path(product.gtin, code))).json()
                for code in codes[:10]
            ]
            assert [v["verdict"] for v in kept] == ["already_scanned"] * 10
            assert {v["scans"]["count"] for v in kept} == {2}
            regained = [
                (await scan_json(client, scan_path(product.gtin, code))).json()["verdict"]
                for code in codes[10:]
            ]
            assert regained == ["genuine"] * 10
            repeat = (await scan_json(client, scan_path(product.gtin, codes[10]))).json()
            assert repeat["verdict"] == "already_scanned"
            assert repeat["scans"]["count"] == 2  # Redis holds the new first scan now
