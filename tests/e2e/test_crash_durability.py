"""An answered scan survives a crash: SIGKILL the server right after answers, then look."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid

import httpx
import pytest
from sqlalchemy import select

from gateway.models import Scan
from kernel.db import create_engine, create_session_factory
from kernel.settings import Settings
from tests.conftest import running_app
from tests.factories.codes import codes_of, make_roll
from tests.factories.tenancy import make_brand, make_product
from tests.support.live_server import free_port as _free_port
from tests.support.live_server import server_env as _server_env
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


async def test_every_answered_scan_is_in_the_log_after_sigkill(settings: Settings) -> None:
    settings = settings.with_overrides(auth={"jwt_secret": os.urandom(32).hex().encode()})
    async with running_app(settings) as (app, _):
        brand = await make_brand(app)
        product = await make_product(app, brand)
        roll = await make_roll(app, brand, product, count=400, activate=True)
        codes = codes_of(app, roll, product.gtin, range(400))

    port = _free_port()
    server = subprocess.Popen(  # noqa: ASYNC220 - starting a server, not waiting on it
        [
            sys.executable,
            "-m",
            "uvicorn",
            "admin_api.asgi:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=_server_env(settings),
    )
    answered: list[uuid.UUID] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:

            async def healthy() -> bool:
                if server.poll() is not None:
                    pytest.fail(f"server exited with {server.returncode} before it started")
                try:
                    return (await client.get("/health")).status_code == 200
                except httpx.TransportError:
                    return False

            # Generous: under parallel workers the interpreter start alone can take seconds.
            await wait_until(healthy, 60, interval_s=0.1, what="the server to start")

            async def scan(code: str, i: int) -> None:
                try:
                    response = await client.post(
                        "/v1/scans",
                        json={
                            "url": f"https://id.example.test/01/{product.gtin}/21/{code}",
                            "device_id": f"dev-{i}",
                        },
                    )
                except httpx.TransportError:
                    return  # in flight when the server died: never answered, nothing promised
                if response.status_code == 200:
                    answered.append(uuid.UUID(response.json()["scan_id"]))

            tasks = [asyncio.create_task(scan(code, i)) for i, code in enumerate(codes)]
            await wait_until(lambda: len(answered) >= 150, 60, interval_s=0.001, what="150 answers")
            server.send_signal(signal.SIGKILL)  # no shutdown hooks, no final flush
            await asyncio.gather(*tasks)
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(timeout=10)

    assert len(answered) >= 150
    engine = create_engine(settings, nullpool=True)
    try:
        async with create_session_factory(engine)() as session:
            logged = set((await session.execute(select(Scan.scan_uid))).scalars())
    finally:
        await engine.dispose()
    missing = [uid for uid in answered if uid not in logged]
    assert not missing, f"{len(missing)} answered scans missing from the log"
