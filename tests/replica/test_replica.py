"""The read replica (``SCANGUARD_DATABASE_REPLICA_URL``) on a real streaming pair
(tests/support/pg_pair.py): statistics, history, traces and exports are read from it; the scan
path, every write and read-your-writes reads stay on the primary. The proof is replica lag:
with WAL replay paused on the replica, a replica read shows the old state while the primary
has the new one, and replay resumed brings the replica up to date."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select

from gateway.models import Scan
from kernel.migrate import upgrade
from kernel.settings import Settings
from tests.conftest import WORKER, base_settings, running_app
from tests.factories.codes import codes_of, make_roll, scan_path
from tests.factories.tenancy import brand_admin, make_batch, make_product
from tests.support.pg_pair import PgPair
from tests.support.waiting import wait_until

SCHEMA = "sg"


@pytest.fixture(scope="session")
def pg_pair() -> Iterator[PgPair]:
    with PgPair() as pair:
        base = base_settings(database={"url": pair.primary_url, "search_path": SCHEMA})

        async def create_schema() -> None:
            conn = await asyncpg.connect(pair.primary_url.replace("+asyncpg", ""), timeout=5)
            try:
                await conn.execute(f"CREATE SCHEMA {SCHEMA}")
            finally:
                await conn.close()

        from tests.conftest import _in_thread

        _in_thread(create_schema)
        upgrade(base)
        yield pair


@pytest.fixture
async def replica_app(
    pg_pair: PgPair, redis_url: str, tmp_path: object
) -> AsyncIterator[tuple[Litestar, httpx.AsyncClient, asyncpg.Connection]]:
    settings: Settings = base_settings(
        database={
            "url": pg_pair.primary_url,
            "replica_url": pg_pair.replica_url,
            "search_path": SCHEMA,
        },
        redis={"url": redis_url, "prefix": f"sgtest:{WORKER}:{uuid.uuid4().hex[:12]}:"},
    )
    replica = await asyncpg.connect(pg_pair.replica_url.replace("+asyncpg", ""), timeout=5)
    try:
        async with running_app(settings) as (app, client):
            yield app, client, replica
    finally:
        if await replica.fetchval("SELECT pg_is_wal_replay_paused()"):
            await replica.execute("SELECT pg_wal_replay_resume()")
        await replica.close()


async def _primary_scans(app: Litestar) -> int:
    async with app.state.session_factory() as session:
        query = select(func.count()).select_from(Scan)
        return int((await session.execute(query)).scalar_one())


async def test_reads_come_from_the_replica_and_writes_go_to_the_primary(
    replica_app: tuple[Litestar, httpx.AsyncClient, asyncpg.Connection],
) -> None:
    app, client, replica = replica_app
    assert await replica.fetchval("SELECT pg_is_in_recovery()")  # a read-only hot standby
    brand, headers = await brand_admin(app, client)
    product = await make_product(app, brand)
    roll = await make_roll(app, brand, product, count=5)
    [code] = codes_of(app, roll, product.gtin, [1])
    history_url = f"/v1/admin/codes/{product.gtin}/{code}/scans"

    async def history_total() -> int:
        response = await client.get(history_url, headers=headers)
        assert response.status_code == 200, response.text
        return int(response.json()["total"])

    first = await client.get(scan_path(product.gtin, code), headers={"Accept": "application/json"})
    assert first.json()["verdict"] == "genuine"
    await wait_until(lambda: _eq(history_total(), 1), what="the replica replays the first scan")
    before = await _primary_scans(app)

    await replica.execute("SELECT pg_wal_replay_pause()")
    await wait_until(lambda: _paused(replica), what="replay paused")
    # Writes while the replica is frozen: a scan (the scan path) and a batch (an admin write).
    again = await client.get(scan_path(product.gtin, code), headers={"Accept": "application/json"})
    assert again.json()["verdict"] == "already_scanned"
    await wait_until(lambda: _eq(_primary_scans(app), before + 1), what="second scan logged")
    batch = await make_batch(app, brand, product)

    assert await history_total() == 1  # served by the replica: it has not seen the 2nd scan
    # Read-your-writes stays on the primary: the batch just made is there...
    own = await client.get(f"/v1/admin/batches/{batch.id}", headers=headers)
    assert own.status_code == 200, own.text
    # ...while a trace (a replica read) does not know it yet.
    trace = await client.get(f"/v1/admin/traces/backward?batch_id={batch.id}", headers=headers)
    assert trace.status_code == 404, trace.text

    await replica.execute("SELECT pg_wal_replay_resume()")
    await wait_until(lambda: _eq(history_total(), 2), what="the replica catches up")

    async def traced() -> bool:
        url = f"/v1/admin/traces/backward?batch_id={batch.id}"
        return (await client.get(url, headers=headers)).status_code == 200

    await wait_until(traced, what="the replica has the batch")


async def _eq(value: object, expected: int) -> bool:
    return await value == expected  # type: ignore[misc]


async def _paused(replica: asyncpg.Connection) -> bool:
    return str(await replica.fetchval("SELECT pg_get_wal_replay_pause_state()")) == "paused"
