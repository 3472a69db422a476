"""What a scan produced survives a crash: SIGKILL the server under diverted and forged load,
start it again, and find a diversion signal and a tally for every answered diverted scan and a
counterfeit tally for every answered forged scan."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from channel_control.diversion.models import DiversionSignal, DiversionTally
from gateway.geoip_fixture import write_city_database
from gateway.models import CounterfeitAttempt
from kernel.db import create_engine, create_session_factory
from kernel.settings import Settings
from tests.factories.diversion import PLACES, located_app, shipped_goods
from tests.support.live_server import free_port, server_env
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

BEIJING_IP = PLACES["Beijing"].host()  # the goods go to a CN-GD distributor: diverted
FORGER_IP = PLACES["Shanghai"].host()
UNITS = 300


@asynccontextmanager
async def _server(
    settings: Settings, city_db: Path, port: int
) -> AsyncIterator[tuple[subprocess.Popen[bytes], httpx.AsyncClient]]:
    env = server_env(
        settings,
        SCANGUARD_GEOIP_DATABASE=str(city_db),
        SCANGUARD_COUNTERFEIT_IP_PER_MINUTE="1000000",
        # Long: in memory is where today's signals and tallies wait; a crash must not lose them.
        SCANGUARD_DIVERSION_FLUSH_INTERVAL_S="3600",
    )
    command = [sys.executable, "-m", "uvicorn", "admin_api.asgi:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(command, env=env)  # noqa: ASYNC220 - a server, not waited on
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:

            async def healthy() -> bool:
                if server.poll() is not None:
                    pytest.fail(f"server exited with {server.returncode} before it started")
                try:
                    return (await client.get("/health")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(healthy, 60, interval_s=0.1, what="the server to start")
            yield server, client
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(timeout=10)


@pytest.mark.parametrize("backend", ["services"])
async def test_signals_and_tallies_of_answered_scans_survive_sigkill(
    settings: Settings, tmp_path: Path
) -> None:
    city_db = write_city_database(tmp_path / "city.mmdb")
    async with located_app(settings, city_db) as (app, client):
        goods = await shipped_goods(app, client, regions=("CN-GD",), count=UNITS)
    gtin = goods.product.gtin
    # A changed last character breaks the MAC: a well-formed code that was never issued.
    forged = [code[:-1] + ("3" if code[-1] == "2" else "2") for code in goods.codes]
    diverted: list[uuid.UUID] = []
    counterfeits = 0

    port = free_port()
    async with _server(settings, city_db, port) as (server, http):

        async def scan(code: str, i: int, ip: str) -> None:
            nonlocal counterfeits
            try:
                response = await http.post(
                    "/v1/scans",
                    json={
                        "url": f"https://id.example.test/01/{gtin}/21/{code}",
                        "device_id": f"dev-{i}",
                    },
                    headers={"X-Forwarded-For": f"{ip}, 127.0.0.1"},
                )
            except httpx.TransportError:
                return  # in flight when the server died: never answered, nothing promised
            if response.status_code != 200:
                return
            answer = response.json()
            if answer["verdict"] == "counterfeit":
                counterfeits += 1
            else:
                diverted.append(uuid.UUID(answer["scan_id"]))

        tasks = [
            asyncio.create_task(scan(code, i, BEIJING_IP)) for i, code in enumerate(goods.codes)
        ] + [asyncio.create_task(scan(code, i, FORGER_IP)) for i, code in enumerate(forged)]
        await wait_until(
            lambda: len(diverted) >= 100 and counterfeits >= 100,
            60,
            interval_s=0.001,
            what="100 diverted and 100 forged answers",
        )
        server.send_signal(signal.SIGKILL)  # no shutdown hooks, no final flush
        await asyncio.gather(*tasks)

    engine = create_engine(settings, nullpool=True)
    sessions = create_session_factory(engine)

    async def recovered() -> tuple[set[uuid.UUID], int, int]:
        async with sessions() as session:
            signalled = set((await session.execute(select(DiversionSignal.scan_uid))).scalars())
            tallied = await session.scalar(select(func.sum(DiversionTally.diverted)))
            forged_tally = await session.scalar(select(func.sum(CounterfeitAttempt.count)))
        return signalled, int(tallied or 0), int(forged_tally or 0)

    try:
        async with _server(settings, city_db, port) as (server, _):  # the restart recovers
            seen: list[str] = []

            async def complete() -> bool:
                signalled, tallied, forged_tally = await recovered()
                seen[:] = [
                    f"{len(signalled & set(diverted))}/{len(diverted)} signals, "
                    f"{tallied} diverted tallied, {forged_tally}/{counterfeits} forged tallied"
                ]
                return (
                    signalled.issuperset(diverted)
                    and tallied >= len(diverted)
                    and forged_tally >= counterfeits
                )

            await wait_until(complete, 30, interval_s=0.2, what=lambda: f"recovery ({seen})")
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        signalled, tallied, forged_tally = await recovered()
        async with sessions() as session:
            stored = await session.scalar(select(func.count()).select_from(DiversionSignal))
    finally:
        await engine.dispose()

    assert len(diverted) >= 100
    assert counterfeits >= 100
    missing = [uid for uid in diverted if uid not in signalled]
    assert not missing, f"{len(missing)} of {len(diverted)} answered diverted scans lost"
    # Each scan counted once: no signal stored twice, no tally above what the log holds.
    assert stored == len(signalled)
    assert len(diverted) <= tallied == len(signalled) <= UNITS
    assert counterfeits <= forged_tally <= UNITS
