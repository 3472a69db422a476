"""The demo behind ``make run``: every sample URL gets its verdict, the channel part works,
and a second run changes nothing. On both backends."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from admin_api.demo import DEMO_GEOIP, seed_demo
from kernel.settings import Settings
from tests.conftest import running_app


async def _seed(settings: Settings) -> dict[str, Any]:
    # seed_demo runs its own event loop (as the CLI does): in a thread, off the test's loop.
    return await asyncio.to_thread(seed_demo, settings)


async def _login(
    client: httpx.AsyncClient, path: str, username: str, password: str
) -> dict[str, str]:
    response = await client.post(path, json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_demo_samples_channel_and_idempotence(settings: Settings, tmp_path: Path) -> None:
    settings = settings.with_overrides(gateway={"geoip_database": str(tmp_path / DEMO_GEOIP)})
    state = await _seed(settings)
    again = await _seed(settings)
    assert again["passwords"] == state["passwords"]
    assert again["channel"]["distributors"] == state["channel"]["distributors"]
    async with running_app(settings, client_ip="127.0.0.1") as (_, client):
        for verdict, url in state["samples"].items():
            path = url.split("://", 1)[1].split("/", 1)[1]
            response = await client.get(f"/{path}", headers={"Accept": "application/json"})
            assert response.status_code == 200, response.text
            expected = "genuine" if verdict == "with_lot" else verdict
            assert response.json()["verdict"] == expected, verdict
        admin = await _login(
            client, "/v1/admin/auth/login", "demo-admin", state["passwords"]["demo-admin"]
        )
        alerts = await client.get("/v1/admin/diversion/alerts", headers=admin)
        assert alerts.status_code == 200, alerts.text
        assert [a["area"] for a in alerts.json()["items"]] == ["CN-ZJ"]
        distributor = await _login(
            client,
            "/v1/distributor/auth/login",
            "demo-distributor",
            state["passwords"]["demo-distributor"],
        )
        shipments = await client.get("/v1/distributor/shipments", headers=distributor)
        assert [s["document_number"] for s in shipments.json()["items"]] == ["DEMO-OUT-0001"]
